import numpy as np
import pandas as pd
import pytest

from neurrator_bench.builders.presentations import index_presentations
from neurrator_bench.errors import NWBFormatError


def movie_table(n_frames=5, n_repeats=3):
    frames = np.tile(np.arange(n_frames), n_repeats).astype(float)
    start = np.arange(frames.size) * 0.0334
    return pd.DataFrame({"start_time": start, "stop_time": start + 0.0334, "frame": frames})


def test_movie_repeats_start_at_frame_zero():
    idx = index_presentations(movie_table(), "natural_movie_one")
    assert idx.n_frames == 5
    assert idx.repeat.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert idx.frame.tolist() == list(range(5)) * 3


def test_scenes_drop_blanks_and_count_occurrences():
    frame = np.array([3, -1, 3, 0, -1, 0, 3], dtype=float)
    t = pd.DataFrame({"start_time": np.arange(7) * 0.25, "frame": frame})
    idx = index_presentations(t, "natural_scenes")
    assert idx.frame.tolist() == [3, 3, 0, 0, 3]
    assert idx.repeat.tolist() == [0, 1, 0, 1, 2]
    assert idx.onset.tolist() == [0.0, 0.5, 0.75, 1.25, 1.5]


def test_string_frames_are_coerced():
    t = movie_table()
    t["frame"] = t["frame"].astype(str)
    assert index_presentations(t, "natural_movie_one").n_frames == 5


def test_errors_name_table_and_column():
    with pytest.raises(ValueError, match="unknown stimulus 'natural_movie_two'"):
        index_presentations(movie_table(), "natural_movie_two")
    with pytest.raises(
        NWBFormatError, match="f.nwb: intervals/natural_movie_one_presentations: missing column 'frame'"
    ):
        index_presentations(movie_table().drop(columns="frame"), "natural_movie_one", source="f.nwb")
    bad = movie_table()
    bad.loc[2, "frame"] = np.nan
    with pytest.raises(NWBFormatError, match="non-numeric start_time/frame at row 2"):
        index_presentations(bad, "natural_movie_one")
    with pytest.raises(NWBFormatError, match="must show frame 0"):
        index_presentations(movie_table().iloc[1:], "natural_movie_one")


def test_invalid_intervals_drop_presentations_without_renumbering():
    t = movie_table(n_frames=5, n_repeats=3)  # frames every 0.0334 s
    # an invalid interval covering frame 0 of repeat 1 (t = 0.167) and frame 1 (t = 0.2004)
    idx = index_presentations(t, "natural_movie_one", invalid_intervals=np.array([[0.17, 0.21]]))
    assert idx.repeat.tolist() == [0] * 5 + [1] * 3 + [2] * 5
    assert idx.frame.tolist() == [0, 1, 2, 3, 4, 2, 3, 4, 0, 1, 2, 3, 4]
