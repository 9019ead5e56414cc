"""Frame-level statistics: per-frame weights, block clusters, session level, paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.scorers.bootstrap import bootstrap_ci
from neurrator_bench.scorers.frame_stats import (
    cluster_bootstrap,
    frame_level_clusters,
    make_clusters,
    paired_frame_difference,
)

MOVIE = ("natural_movie_one",)


def movie_set(n_frames=120, repeats=3, sessions=2, seed=0):
    """Samples of a movie: every frame shown ``repeats`` times in each session; a smooth per-frame signal."""
    rng = np.random.default_rng(seed)
    frame = np.tile(np.repeat(np.arange(n_frames), repeats), sessions)
    session = np.repeat([f"s{i}" for i in range(sessions)], n_frames * repeats)
    signal = np.convolve(rng.normal(size=n_frames + 59), np.ones(60) / 60, mode="valid")  # autocorrelated
    values = signal[frame] + 0.01 * rng.normal(size=frame.size)
    return np.array(["natural_movie_one"] * frame.size), frame, session, values


def test_value_is_the_mean_of_frame_means():
    stim = np.array(["natural_movie_one"] * 4)
    frame = np.array([0, 0, 0, 1])
    clusters = make_clusters(stim, frame, ["a"] * 4, movie_stimuli=MOVIE)
    ci = cluster_bootstrap(np.array([1.0, 1.0, 1.0, 0.0]), clusters, n_boot=20)
    assert ci.value == pytest.approx(0.5)  # not 0.75: frame 0's three samples weigh as one frame
    assert clusters.n_frames == 2 and clusters.n_blocks == 1  # both frames are in block 0 (frames 0-29)


def test_blocks_of_movies_and_single_images_of_scenes():
    stim = np.array(["natural_movie_one"] * 3 + ["natural_scenes"] * 3)
    frame = np.array([0, 29, 30, 0, 1, 1])
    clusters = make_clusters(stim, frame, ["a"] * 6, movie_stimuli=MOVIE, block_frames=30)
    # movie frames 0 and 29 share a block, 30 starts the next; scene images 0 and 1 are their own clusters
    assert clusters.n_frames == 5 and clusters.n_blocks == 4
    assert clusters.block[0] == clusters.block[1] != clusters.block[2]
    assert clusters.block[4] == clusters.block[5] != clusters.block[3]


def test_duplicating_one_frame_tenfold_does_not_shrink_the_interval():
    stim, frame, session, values = movie_set()
    clusters = make_clusters(stim, frame, session, movie_stimuli=MOVIE)
    base = cluster_bootstrap(values, clusters, n_boot=300, seed=1)
    dup = np.flatnonzero(frame == 7)
    rows = np.concatenate([np.arange(frame.size), np.repeat(dup, 9)])
    clusters_dup = make_clusters(stim[rows], frame[rows], session[rows], movie_stimuli=MOVIE)
    dupped = cluster_bootstrap(values[rows], clusters_dup, n_boot=300, seed=1)
    assert dupped.value == pytest.approx(base.value, abs=1e-12)
    assert dupped.high - dupped.low >= base.high - base.low - 1e-12


def test_ten_copies_of_every_frame_shrink_a_sample_bootstrap_but_not_the_frame_bootstrap():
    stim, frame, session, values = movie_set()
    rows = np.repeat(np.arange(frame.size), 10)
    naive = bootstrap_ci(values, n_boot=300, seed=1)
    naive_dup = bootstrap_ci(values[rows], n_boot=300, seed=1)
    # the (pseudo-replicated) sample bootstrap we no longer report: about sqrt(10) narrower
    assert naive_dup.high - naive_dup.low < 0.5 * (naive.high - naive.low)
    base = cluster_bootstrap(values, make_clusters(stim, frame, session, movie_stimuli=MOVIE), n_boot=300, seed=1)
    dup = cluster_bootstrap(
        values[rows], make_clusters(stim[rows], frame[rows], session[rows], movie_stimuli=MOVIE), n_boot=300, seed=1
    )
    assert dup.value == pytest.approx(base.value, abs=1e-12)
    assert dup.high - dup.low == pytest.approx(base.high - base.low, abs=1e-12)


def test_blocks_widen_the_interval_of_autocorrelated_frames():
    stim, frame, session, values = movie_set()
    blocked = cluster_bootstrap(values, make_clusters(stim, frame, session, movie_stimuli=MOVIE), n_boot=400)
    single = cluster_bootstrap(
        values, make_clusters(stim, frame, session, movie_stimuli=MOVIE, block_frames=1), n_boot=400
    )
    assert blocked.value == pytest.approx(single.value)
    assert blocked.high - blocked.low > 1.5 * (single.high - single.low)


def test_session_level_widens_when_sessions_differ():
    stim, frame, session, values = movie_set(sessions=4)
    shifted = values + np.where(session == "s0", 0.5, 0.0)
    flat = cluster_bootstrap(shifted, make_clusters(stim, frame, session, movie_stimuli=MOVIE), n_boot=300)
    outer = cluster_bootstrap(
        shifted, make_clusters(stim, frame, session, movie_stimuli=MOVIE, session_level=True), n_boot=300
    )
    assert outer.value == pytest.approx(flat.value)
    assert outer.high - outer.low > 2 * (flat.high - flat.low)


def test_one_sided_p():
    stim, frame, session, values = movie_set()
    clusters = make_clusters(stim, frame, session, movie_stimuli=MOVIE)
    clear = cluster_bootstrap(values - values.min() + 0.1, clusters, n_boot=199, test_greater=True)
    assert clear.p_greater == pytest.approx(1 / 200)
    noise = np.random.default_rng(3).normal(size=frame.size)
    centred = cluster_bootstrap(noise - noise.mean(), clusters, n_boot=199, test_greater=True)
    assert 0.3 < centred.p_greater < 0.7  # a mean of exactly 0: about half of the replicates fall below it


def test_paired_frame_difference_known_values():
    keys = [("natural_movie_one", f) for f in range(90)]
    a = {k: (0.5 + 0.01 * (k[1] % 7), k[1] // 30) for k in keys}
    b = {k: (v - 0.1, blk) for k, (v, blk) in a.items()}
    diff = paired_frame_difference("sbert_matched", a, b, n_boot=200)
    assert diff.difference == pytest.approx(0.1)
    assert diff.low == pytest.approx(0.1) and diff.high == pytest.approx(0.1) and diff.significant
    assert diff.n_frames == 90 and diff.p_two_sided == pytest.approx(2 / 201)
    same = paired_frame_difference("sbert_matched", a, a, n_boot=200)
    assert same.difference == 0.0 and same.p_two_sided == 1.0 and not same.significant
    with pytest.raises(ValueError, match="cover different frames"):
        paired_frame_difference("sbert_matched", a, dict(list(b.items())[:-1]))


def test_frame_level_clusters_use_the_table_blocks():
    clusters = frame_level_clusters(["m"] * 4, [0, 1, 40, 41], [0, 0, 1, 1])
    assert clusters.n_frames == 4 and clusters.n_blocks == 2


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="block_frames: expected an int >= 1"):
        make_clusters(["m"], [0], ["s"], movie_stimuli=MOVIE, block_frames=0)
    with pytest.raises(ValueError, match="frame: expected length 1"):
        make_clusters(["m"], [0, 1], ["s"], movie_stimuli=MOVIE)
    clusters = make_clusters(["m", "m"], [0, 1], ["s", "s"], movie_stimuli=MOVIE)
    with pytest.raises(ValueError, match="values: expected finite values"):
        cluster_bootstrap(np.array([1.0, np.nan]), clusters)
