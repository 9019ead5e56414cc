from __future__ import annotations

import time

import numpy as np
import pytest

from neurrator_bench.scorers.retrieval import (
    chance_median_rank,
    chance_recall_at_k,
    median_rank,
    recall_at_k,
    retrieval_ranks,
)


def _brute_force_ranks(pred, cands, truth, frames=None, k=0):
    out = []
    for q, t in zip(pred, truth, strict=True):
        sims = [q @ c / (np.linalg.norm(q) * np.linalg.norm(c)) for c in cands]
        rank = 1
        for j, s in enumerate(sims):
            if j == t:
                continue
            if frames is not None and abs(frames[j] - frames[t]) <= k:
                continue
            if s >= sims[t]:  # pessimistic: ties count against the true item
                rank += 1
        out.append(rank)
    return np.array(out)


def test_oracle_distinct_candidates_rank_one():
    rng = np.random.default_rng(0)
    cands = rng.normal(size=(50, 8))
    truth = rng.integers(0, 50, size=80)
    ranks = retrieval_ranks(cands[truth], cands, truth)
    np.testing.assert_array_equal(ranks, 1)
    assert recall_at_k(ranks, 1) == 1.0
    assert median_rank(ranks) == 1.0


def test_matches_brute_force_with_and_without_exclusion():
    rng = np.random.default_rng(1)
    cands = rng.normal(size=(30, 5))
    pred = rng.normal(size=(25, 5))
    truth = rng.integers(0, 30, size=25)
    frames = np.arange(30) * 2
    np.testing.assert_array_equal(retrieval_ranks(pred, cands, truth), _brute_force_ranks(pred, cands, truth))
    np.testing.assert_array_equal(
        retrieval_ranks(pred, cands, truth, candidate_frames=frames, exclusion_frames=3),
        _brute_force_ranks(pred, cands, truth, frames, 3),
    )


def test_tie_with_true_candidate_is_pessimistic():
    cands = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # rows 0, 1, 3 identical direction
    ranks = retrieval_ranks(np.array([[1.0, 0.0], [0.0, 1.0]]), cands, np.array([0, 2]))
    np.testing.assert_array_equal(ranks, [3, 1])


def test_temporal_exclusion_zone_removes_neighbours():
    # frames 0..9; candidates 3, 4, 6, 7 duplicate the true frame 5 -> rank 5 without exclusion
    cands = np.random.default_rng(2).normal(size=(10, 6))
    cands[[3, 4, 6, 7]] = cands[5]
    frames = np.arange(10)
    pred = cands[[5]]
    truth = np.array([5])
    assert retrieval_ranks(pred, cands, truth)[0] == 5
    assert retrieval_ranks(pred, cands, truth, candidate_frames=frames, exclusion_frames=1)[0] == 3
    assert retrieval_ranks(pred, cands, truth, candidate_frames=frames, exclusion_frames=2)[0] == 1
    # k = 0 with frames only removes other candidates of the very same frame
    same = np.array([0, 1, 2, 3, 4, 5, 5, 7, 8, 9])
    assert retrieval_ranks(pred, cands, truth, candidate_frames=same, exclusion_frames=0)[0] == 4


def test_independent_of_input_order():
    rng = np.random.default_rng(3)
    m = 40
    cands = rng.normal(size=(m, 4))
    cands[10] = cands[11]  # exact tie between candidates
    cands[20] = 3.0 * cands[21]
    ids = np.array([f"f{i:02d}" for i in range(m)])
    pred = rng.normal(size=(60, 4))
    pred[:5] = cands[[10, 11, 20, 21, 0]]
    truth = rng.integers(0, m, size=60)
    truth[:5] = [10, 11, 20, 21, 0]
    frames = np.arange(m)
    base = retrieval_ranks(pred, cands, truth, candidate_ids=ids, candidate_frames=frames, exclusion_frames=1)
    for seed in range(4):
        p = np.random.default_rng(seed).permutation(m)  # new row j holds old candidate p[j]
        q = np.random.default_rng(seed + 10).permutation(60)
        inverse = np.argsort(p)
        ranks = retrieval_ranks(
            pred[q],
            cands[p],
            inverse[truth[q]],
            candidate_ids=ids[p],
            candidate_frames=frames[p],
            exclusion_frames=1,
        )
        np.testing.assert_array_equal(ranks, base[q])


def test_chunking_does_not_change_ranks():
    rng = np.random.default_rng(4)
    cands = rng.normal(size=(37, 6))
    pred = rng.normal(size=(53, 6))
    truth = rng.integers(0, 37, size=53)
    full = retrieval_ranks(pred, cands, truth)
    np.testing.assert_array_equal(retrieval_ranks(pred, cands, truth, max_chunk_elements=50), full)
    np.testing.assert_array_equal(retrieval_ranks(pred, cands, truth, max_chunk_elements=1), full)


def test_unrelated_predictions_are_at_chance():
    rng = np.random.default_rng(5)
    m, n = 50, 4000
    ranks = retrieval_ranks(rng.normal(size=(n, 16)), rng.normal(size=(m, 16)), rng.integers(0, m, size=n))
    for k in (1, 5, 10):
        chance = chance_recall_at_k(k, m)
        assert abs(recall_at_k(ranks, k) - chance) < 4 * np.sqrt(chance * (1 - chance) / n)
    assert abs(median_rank(ranks) - chance_median_rank(m)) <= 3


def test_shuffled_oracle_r1_near_one_over_m():
    rng = np.random.default_rng(6)
    m = 100
    cands = rng.normal(size=(m, 32))
    truth = np.tile(np.arange(m), 20)
    shuffled_truth = rng.permutation(truth)  # predictions are true targets of the wrong frame
    ranks = retrieval_ranks(cands[truth], cands, shuffled_truth)
    assert abs(recall_at_k(ranks, 1) - 1 / m) < 0.01


def test_recall_and_median_closed_form():
    ranks = np.array([1, 2, 3, 10, 11])
    assert recall_at_k(ranks, 1) == 0.2
    assert recall_at_k(ranks, 10) == 0.8
    assert median_rank(ranks) == 3.0
    assert chance_recall_at_k(10, 900) == pytest.approx(0.0111, abs=1e-4)
    assert chance_median_rank(900) == 450.5


def test_inputs_not_mutated():
    rng = np.random.default_rng(7)
    cands = rng.normal(size=(9, 3))
    pred = rng.normal(size=(4, 3))
    truth = np.array([0, 1, 2, 3])
    copies = (cands.copy(), pred.copy(), truth.copy())
    retrieval_ranks(pred, cands, truth, candidate_ids=[str(i) for i in range(9)])
    for before, after in zip(copies, (cands, pred, truth), strict=True):
        np.testing.assert_array_equal(before, after)


def test_errors():
    rng = np.random.default_rng(8)
    cands = rng.normal(size=(6, 3))
    pred = rng.normal(size=(4, 3))
    truth = np.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"share the embedding dimension, found \(4, 2\) and \(6, 3\)"):
        retrieval_ranks(pred[:, :2], cands, truth)
    bad = pred.copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"pred: expected finite values, found nan at index \(2, 0\)"):
        retrieval_ranks(bad, cands, truth)
    with pytest.raises(ValueError, match=r"true_index: expected values in \[0, 6\), found 6 at index 1"):
        retrieval_ranks(pred, cands, np.array([0, 6, 1, 1]))
    with pytest.raises(ValueError, match=r"true_index: expected length 4 \(rows of pred\), found length 3"):
        retrieval_ranks(pred, cands, truth[:3])
    with pytest.raises(ValueError, match="true_index: expected integer dtype"):
        retrieval_ranks(pred, cands, truth.astype(float))
    with pytest.raises(ValueError, match="exclusion_frames=2 needs candidate_frames"):
        retrieval_ranks(pred, cands, truth, exclusion_frames=2)
    with pytest.raises(ValueError, match="exclusion_frames: expected an int >= 0, found -1"):
        retrieval_ranks(pred, cands, truth, candidate_frames=np.arange(6), exclusion_frames=-1)
    with pytest.raises(ValueError, match=r"candidate_frames: expected an int array of shape \(6,\)"):
        retrieval_ranks(pred, cands, truth, candidate_frames=np.arange(5))
    with pytest.raises(ValueError, match="candidate_ids: expected unique ids, found 'a' 2 times"):
        retrieval_ranks(pred, cands, truth, candidate_ids=["a", "a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match="ranks: expected integers >= 1, found 0.0 at index 1"):
        recall_at_k(np.array([1, 0]), 1)
    with pytest.raises(ValueError, match="k: expected an int >= 1, found 0"):
        recall_at_k(np.array([1, 2]), 0)
    with pytest.raises(ValueError, match="ranks: expected a non-empty array"):
        median_rank(np.array([], dtype=int))


@pytest.mark.slow
def test_large_retrieval_runs_in_seconds():
    rng = np.random.default_rng(9)
    cands = rng.normal(size=(4000, 1024)).astype(np.float32)
    truth = rng.integers(0, 4000, size=10_000)
    pred = cands[truth] + 0.5 * rng.normal(size=(10_000, 1024)).astype(np.float32)
    start = time.perf_counter()
    ranks = retrieval_ranks(pred, cands, truth)
    assert time.perf_counter() - start < 30.0
    assert recall_at_k(ranks, 1) > 0.99


# ---- the benchmark's gallery: every frame of the stimulus (Table A2) ----


def _gallery(m=900, d=16, seed=0):
    return np.random.default_rng(seed).normal(size=(m, d))


def test_gallery_oracle_ranks_first_and_identical_targets_merge():
    from neurrator_bench.scorers.retrieval import gallery_ranks

    gallery = _gallery(100)
    gallery[10:20] = gallery[10]  # a static shot: ten frames, one target
    frames = np.array([0, 12, 19, 55])
    result = gallery_ranks(gallery[frames], gallery, frames)
    np.testing.assert_array_equal(result.ranks, [1, 1, 1, 1])
    assert result.n_frames == 100 and result.n_distinct == 91
    np.testing.assert_array_equal(result.gallery_size, [91] * 4)


def test_gallery_exclusion_zone_sizes():
    from neurrator_bench.scorers.retrieval import gallery_ranks

    gallery = _gallery(10)
    frames = np.array([5, 0, 9])
    result = gallery_ranks(gallery[frames], gallery, frames, exclusion_frames=2)
    # frame 5 loses 3, 4, 6, 7; frame 0 loses 1, 2; frame 9 loses 7, 8
    np.testing.assert_array_equal(result.gallery_size, [6, 8, 8])
    np.testing.assert_array_equal(result.ranks, [1, 1, 1])
    # a near neighbour that would beat the true frame is excluded: the query sits between frames 4 and 5
    wide = _gallery(10, d=512)
    query = 0.9 * wide[[4]] + 0.4 * wide[[5]]
    assert gallery_ranks(query, wide, np.array([5]), exclusion_frames=0).ranks[0] == 2  # frame 4 is ahead
    assert gallery_ranks(query, wide, np.array([5]), exclusion_frames=1).ranks[0] == 1  # frame 4 is excluded


def test_gallery_of_public_frames_leaves_sealed_rows_out():
    """The live test of a sealed dataset ranks among the available (public) frames only; NaN rows are no candidates."""
    from neurrator_bench.scorers.retrieval import gallery_ranks

    gallery = _gallery(10, d=512)
    available = np.ones(10, dtype=bool)
    available[[4, 8]] = False
    gallery[[4, 8]] = np.nan  # what the public targets config holds for sealed frames
    query = 0.9 * np.nan_to_num(_gallery(10, d=512))[[4]] + 0.4 * gallery[[5]]
    # frame 4 would beat the true frame 5, but it is sealed: rank 1 among 8 candidates
    result = gallery_ranks(query, gallery, np.array([5]), available=available)
    assert result.ranks[0] == 1 and result.gallery_size[0] == 8 and result.n_frames == 8
    # the exclusion zone counts only available frames: frame 5 +-1 loses 6 (4 is already out) -> 7 candidates
    zone = gallery_ranks(gallery[[5]], gallery, np.array([5]), exclusion_frames=1, available=available)
    assert zone.gallery_size[0] == 7
    with pytest.raises(ValueError, match="not available"):
        gallery_ranks(query, gallery, np.array([4]), available=available)
    with pytest.raises(ValueError, match="gallery"):  # without the mask a NaN gallery is refused
        gallery_ranks(query, gallery, np.array([5]))


def test_shuffled_oracle_is_at_chance():
    """Must-show: oracle targets permuted over the samples score R@1, R@10 and the median rank at chance."""
    from neurrator_bench.scorers.frame_stats import cluster_bootstrap, make_clusters
    from neurrator_bench.scorers.retrieval import gallery_ranks

    gallery = _gallery(900)
    frame = np.tile(np.arange(900), 2)  # every frame, two test repeats (a repeat-holdout test set)
    session = np.array(["s0"] * frame.size)
    pred = gallery[frame[np.random.default_rng(2).permutation(frame.size)]]
    result = gallery_ranks(pred, gallery, frame)
    clusters = make_clusters(
        np.array(["natural_movie_one"] * frame.size), frame, session, movie_stimuli=("natural_movie_one",)
    )
    m = result.n_distinct
    assert m == 900
    for k in (1, 10):
        ci = cluster_bootstrap((result.ranks <= k).astype(float), clusters, n_boot=300)
        assert ci.low <= k / m <= ci.high, (k, ci)
    median = cluster_bootstrap(result.ranks.astype(float), clusters, statistic="median", n_boot=300)
    assert median.low <= (m + 1) / 2 <= median.high, median
