from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.scorers.sbert import _repair_fixed_points, cosine_rows, derangement, sbert_report


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n, d = 40, 16
    ref = rng.normal(size=(n, d))
    narr = ref + 0.8 * rng.normal(size=(n, d))
    salad = rng.normal(size=(30, d))
    off = rng.normal(size=(30, d))
    ids = [f"s{i:03d}" for i in range(n)]
    return narr, ref, salad, off, ids


def test_cosine_rows_known_values():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.0, 3.0]])
    b = np.array([[0.0, 1.0], [2.0, 2.0], [-1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(cosine_rows(a, b), [0.0, 1.0, -1.0, 1.0], atol=1e-15)


def test_cosine_rows_errors():
    with pytest.raises(ValueError, match=r"a and b must have the same shape, found \(2, 3\) and \(2, 4\)"):
        cosine_rows(np.ones((2, 3)), np.ones((2, 4)))
    bad = np.ones((3, 2))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"b: expected finite values, found nan at index \(1, 0\)"):
        cosine_rows(np.ones((3, 2)), bad)
    with pytest.raises(ValueError, match="a: cosine needs non-zero rows, found an all-zero row at index 0"):
        cosine_rows(np.zeros((1, 2)), np.ones((1, 2)))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 10, 50, 333])
def test_derangement_is_fixed_point_free_permutation(n):
    for seed in range(40):
        perm = derangement(n, np.random.default_rng(seed))
        assert sorted(perm.tolist()) == list(range(n))
        assert not np.any(perm == np.arange(n))


def test_derangement_reproducible_and_seed_dependent():
    a = derangement(100, np.random.default_rng(3))
    b = derangement(100, np.random.default_rng(3))
    c = derangement(100, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_repair_fallback_removes_all_fixed_points():
    for n in (2, 3, 9):
        out = _repair_fixed_points(np.arange(n), np.random.default_rng(0))
        assert sorted(out.tolist()) == list(range(n))
        assert not np.any(out == np.arange(n))


@pytest.mark.parametrize("n", [0, 1, -3, 2.5, True])
def test_derangement_rejects_small_or_non_int(n):
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        derangement(n, np.random.default_rng(0))


def test_oracle_narration_equals_reference(data):
    _, ref, salad, off, ids = data
    rep = sbert_report(ref.copy(), ref, salad, off, sample_ids=ids, narrations=None, seed=0)
    np.testing.assert_allclose(rep.matched, 1.0, atol=1e-12)
    assert rep.means()["sbert_matched"] == pytest.approx(1.0)
    assert rep.p_word_salad < 1e-6 and rep.p_off_topic < 1e-6 and rep.p_shuffled < 1e-6
    assert rep.distinct_narration_ratio is None
    assert "distinct_narration_ratio" not in rep.means()


def test_floors_match_brute_force(data):
    narr, ref, salad, off, ids = data
    rep = sbert_report(narr, ref, salad, off, sample_ids=ids, narrations=None, seed=5)
    r, s, o, nn = _unit(ref), _unit(salad), _unit(off), _unit(narr)
    np.testing.assert_allclose(rep.matched, np.sum(nn * r, axis=1), atol=1e-12)
    np.testing.assert_allclose(rep.word_salad_floor, (r @ s.T).mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(rep.off_topic_floor, (r @ o.T).mean(axis=1), atol=1e-12)
    partner = np.array([ids.index(p) for p in rep.shuffled_partner_ids])
    assert not np.any(partner == np.arange(len(ids)))
    np.testing.assert_allclose(rep.shuffled_floor, np.sum(nn[partner] * r, axis=1), atol=1e-12)
    np.testing.assert_allclose(rep.delta_shuffled, rep.matched - rep.shuffled_floor)
    np.testing.assert_allclose(rep.delta_word_salad, rep.matched - rep.word_salad_floor)
    np.testing.assert_allclose(rep.delta_off_topic, rep.matched - rep.off_topic_floor)
    # the noisy narrations are clearly better than every floor
    assert max(rep.p_word_salad, rep.p_off_topic, rep.p_shuffled) < 1e-4
    assert set(rep.per_sample()) == {
        "sbert_matched",
        "sbert_word_salad_floor",
        "sbert_off_topic_floor",
        "sbert_shuffled_floor",
        "sbert_delta_word_salad",
        "sbert_delta_off_topic",
        "sbert_delta_shuffled",
    }


def test_pool_floor_closed_form():
    # pool sentences equal to +e1 and -e1: their mean cosine to any reference is 0
    ref = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    pool = np.array([[1.0, 0.0], [-1.0, 0.0]])
    rep = sbert_report(ref, ref, pool, pool[:1], sample_ids=["a", "b", "c"], narrations=None, seed=0)
    np.testing.assert_allclose(rep.word_salad_floor, 0.0, atol=1e-15)
    np.testing.assert_allclose(rep.off_topic_floor, [1.0, 0.6, 0.0], atol=1e-15)


def test_shuffled_floor_independent_of_input_order(data):
    narr, ref, salad, off, ids = data
    narrations = [f"text {i % 7}" for i in range(len(ids))]
    base = sbert_report(narr, ref, salad, off, sample_ids=ids, narrations=narrations, seed=11)
    by_id = dict(zip(base.sample_ids, zip(base.shuffled_floor, base.shuffled_partner_ids, strict=True), strict=True))
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(ids))
        rep = sbert_report(
            narr[perm],
            ref[perm],
            salad,
            off,
            sample_ids=[ids[i] for i in perm],
            narrations=[narrations[i] for i in perm],
            seed=11,
        )
        for sid, value, partner in zip(rep.sample_ids, rep.shuffled_floor, rep.shuffled_partner_ids, strict=True):
            assert partner == by_id[sid][1]
            assert value == pytest.approx(by_id[sid][0], abs=1e-14)
        assert rep.p_shuffled == pytest.approx(base.p_shuffled)
        assert rep.distinct_narration_ratio == base.distinct_narration_ratio


def test_seed_changes_pairing(data):
    narr, ref, salad, off, ids = data
    a = sbert_report(narr, ref, salad, off, sample_ids=ids, narrations=None, seed=0)
    b = sbert_report(narr, ref, salad, off, sample_ids=ids, narrations=None, seed=1)
    assert a.shuffled_partner_ids != b.shuffled_partner_ids


def test_shuffled_pairing_is_near_chance_for_unrelated_narrations():
    rng = np.random.default_rng(7)
    ref = rng.normal(size=(200, 32))
    narr = rng.normal(size=(200, 32))
    pool = rng.normal(size=(30, 32))
    ids = [f"id{i}" for i in range(200)]
    rep = sbert_report(narr, ref, pool, pool, sample_ids=ids, narrations=None, seed=0)
    assert abs(float(np.mean(rep.delta_shuffled))) < 0.05
    assert rep.p_shuffled > 0.01


def test_distinct_narration_ratio():
    ref = np.eye(4)
    rep = sbert_report(ref, ref, ref, ref, sample_ids=list("abcd"), narrations=["x", "x", "y", "z"], seed=0)
    assert rep.distinct_narration_ratio == 0.75
    assert rep.means()["distinct_narration_ratio"] == 0.75


def test_inputs_not_mutated_and_outputs_read_only(data):
    narr, ref, salad, off, ids = data
    copies = [x.copy() for x in (narr, ref, salad, off)]
    rep = sbert_report(narr, ref, salad, off, sample_ids=ids, narrations=None, seed=0)
    for before, after in zip(copies, (narr, ref, salad, off), strict=True):
        np.testing.assert_array_equal(before, after)
    with pytest.raises(ValueError, match="read-only"):
        rep.matched[0] = 0.0


def test_report_errors(data):
    narr, ref, salad, off, ids = data
    with pytest.raises(
        ValueError,
        match=r"narration_emb and reference_emb must have the same shape, found \(39, 16\) and \(40, 16\)",
    ):
        sbert_report(narr[:-1], ref, salad, off, sample_ids=ids, narrations=None, seed=0)
    with pytest.raises(ValueError, match="needs n >= 2 samples, found n=1"):
        sbert_report(narr[:1], ref[:1], salad, off, sample_ids=ids[:1], narrations=None, seed=0)
    with pytest.raises(ValueError, match=r"sample_ids: expected unique ids, found 's000' 2 times"):
        sbert_report(narr, ref, salad, off, sample_ids=["s000"] + ids[:-1], narrations=None, seed=0)
    with pytest.raises(ValueError, match=r"sample_ids: expected length 40 \(rows of narration_emb\), found length 39"):
        sbert_report(narr, ref, salad, off, sample_ids=ids[:-1], narrations=None, seed=0)
    with pytest.raises(ValueError, match=r"narrations: expected length 40 .* found length 2"):
        sbert_report(narr, ref, salad, off, sample_ids=ids, narrations=["a", "b"], seed=0)
    with pytest.raises(ValueError, match=r"off_topic_emb: expected embedding dimension 16 .* found shape \(30, 8\)"):
        sbert_report(narr, ref, salad, off[:, :8], sample_ids=ids, narrations=None, seed=0)
    bad = ref.copy()
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match=r"reference_emb: expected finite values, found inf at index \(3, 2\)"):
        sbert_report(narr, bad, salad, off, sample_ids=ids, narrations=None, seed=0)
    bad_pool = salad.copy()
    bad_pool[5] = 0.0
    with pytest.raises(ValueError, match="word_salad_emb: cosine needs non-zero rows.*index 5"):
        sbert_report(narr, ref, bad_pool, off, sample_ids=ids, narrations=None, seed=0)
