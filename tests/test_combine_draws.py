"""Multi-draw subset entries: mean over draws, interval over draws, a test on the draw-averaged per-frame values."""

from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.evaluation import combine_draws
from neurrator_bench.schemas.result_entry import FrameTable, MetricResult, SessionMetrics, Subset
from neurrator_bench.scorers.frame_stats import cluster_bootstrap, frame_level_clusters
from tests.leaderboard.entries import make_entry

FRAMES = list(range(60))


def draw(shift: float, delta: list[float]):
    table = FrameTable(
        stimulus=["natural_movie_one"] * 60,
        frame=FRAMES,
        block=[f // 30 for f in FRAMES],
        n=[4] * 60,
        values={"sbert_delta_word_salad": delta, "sbert_matched": [0.5 + shift] * 60},
    )
    metrics = [
        MetricResult(
            name="sbert_matched",
            value=0.5 + shift,
            ci_low=0.4,
            ci_high=0.7,
            n=240,
            n_boot=50,
            higher_is_better=True,
            ceiling=1.0,
            interval="frame-blocks",
        ),
        MetricResult(
            name="sbert_delta_word_salad",
            value=float(np.mean(delta)),
            ci_low=-1.0,
            ci_high=1.0,
            n=240,
            n_boot=50,
            higher_is_better=True,
            p_value=0.02,
            p_test="one-sided frame-block bootstrap",
            chance=0.0,
            interval="frame-blocks",
        ),
        MetricResult(
            name="retrieval_r10",
            value=0.1 + shift,
            ci_low=0.0,
            ci_high=0.3,
            n=240,
            n_boot=50,
            higher_is_better=True,
            chance=0.011 + shift / 10,
            interval="frame-blocks",
        ),
    ]
    entry = make_entry("m", "main", "nm1-contiguous-middle", metrics=metrics, frame_table=table)
    return entry.model_copy(
        update={"per_session": [SessionMetrics(session_id="s1", n=240, values={"sbert_matched": 0.5 + shift})]}
    )


def test_combine_draws_means_intervals_and_the_test_on_averaged_frames():
    rng = np.random.default_rng(0)
    deltas = [list(rng.normal(0.05, 0.1, 60)), list(rng.normal(0.05, 0.1, 60)), list(rng.normal(0.05, 0.1, 60))]
    entries = [draw(shift, d) for shift, d in zip((0.0, 0.1, 0.2), deltas, strict=True)]
    combined = combine_draws(entries, Subset(region_group="V1", n_units=8, draws=3), n_boot=200, seed=4)
    matched = combined.metric("sbert_matched")
    assert matched.value == pytest.approx(0.6) and matched.interval == "draws" and matched.n_boot == 0
    assert matched.ci_low == pytest.approx(np.percentile([0.5, 0.6, 0.7], 2.5))
    assert matched.ceiling == 1.0
    r10 = combined.metric("retrieval_r10")
    assert r10.chance == pytest.approx(np.mean([0.011, 0.021, 0.031]))  # chance kept (the mean over draws)
    averaged = np.round(np.mean(deltas, axis=0), 6)
    assert combined.frame_table.values["sbert_delta_word_salad"] == pytest.approx(list(averaged))
    expected = cluster_bootstrap(
        averaged,
        frame_level_clusters(["natural_movie_one"] * 60, FRAMES, [f // 30 for f in FRAMES]),
        n_boot=200,
        seed=4,
        test_greater=True,
    ).p_greater
    delta = combined.metric("sbert_delta_word_salad")
    assert delta.p_value == pytest.approx(expected) and delta.p_value != 0.02  # not the first draw's p
    assert "averaged over 3 draws" in delta.p_test
    assert combined.per_session[0].values["sbert_matched"] == pytest.approx(0.6)
    assert combined.subset.draws == 3


def test_subset_slug_is_a_legal_file_name_in_canonical_order():
    from neurrator_bench.schemas.result_entry import subset_slug

    a = subset_slug(Subset(region_group="V1|higher_visual", n_units=8))
    b = subset_slug(Subset(region_group="higher_visual|V1", n_units=8))
    assert a == b == "@region_group=V1+higher_visual,n_units=8" and "|" not in a
