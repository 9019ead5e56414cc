from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.scorers.sbert import caption_derangement, cosine_rows, sbert_report, shuffled_partners


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def data():
    """40 samples of 20 frames (2 each); frames 0-9 and 10-19 pair up on 10 captions (2 frames per caption)."""
    rng = np.random.default_rng(0)
    n, d = 40, 16
    ref = rng.normal(size=(n, d))
    narr = ref + 0.8 * rng.normal(size=(n, d))
    salad = rng.normal(size=(30, d))
    off = rng.normal(size=(30, d))
    ids = [f"s{i:03d}" for i in range(n)]
    frames = [f"m:{i % 20}" for i in range(n)]
    captions = [f"caption {i % 10}" for i in range(n)]
    return narr, ref, salad, off, ids, frames, captions


def report(narr, ref, salad, off, ids, frames, captions, *, narrations=None, seed=0):
    return sbert_report(
        narr, ref, salad, off, sample_ids=ids, frame_keys=frames, captions=captions, narrations=narrations, seed=seed
    )


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


def test_oracle_narration_equals_reference(data):
    _, ref, salad, off, ids, frames, captions = data
    rep = report(ref.copy(), ref, salad, off, ids, frames, captions)
    np.testing.assert_allclose(rep.matched, 1.0, atol=1e-12)
    assert rep.means()["sbert_matched"] == pytest.approx(1.0)
    # against the narration or the reference, the pool floors agree when narration == reference
    np.testing.assert_allclose(rep.floors["sbert_word_salad_narration_floor"], rep.word_salad_floor, atol=1e-12)
    assert rep.distinct_narration_ratio is None and "distinct_narration_ratio" not in rep.means()


def test_floors_match_brute_force(data):
    narr, ref, salad, off, ids, frames, captions = data
    rep = report(narr, ref, salad, off, ids, frames, captions, seed=5)
    r, s, o, nn = _unit(ref), _unit(salad), _unit(off), _unit(narr)
    np.testing.assert_allclose(rep.matched, np.sum(nn * r, axis=1), atol=1e-12)
    np.testing.assert_allclose(rep.word_salad_floor, (r @ s.T).mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(rep.off_topic_floor, (r @ o.T).mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(rep.floors["sbert_word_salad_narration_floor"], (nn @ s.T).mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(rep.floors["sbert_off_topic_narration_floor"], (nn @ o.T).mean(axis=1), atol=1e-12)
    partner = np.array([ids.index(p) for p in rep.shuffled_partner_ids])
    np.testing.assert_allclose(rep.shuffled_floor, np.sum(nn[partner] * r, axis=1), atol=1e-12)
    np.testing.assert_allclose(rep.shuffled_narration_floor, np.sum(nn * r[partner], axis=1), atol=1e-12)
    deltas = rep.deltas()
    np.testing.assert_allclose(deltas["sbert_delta_shuffled"], rep.matched - rep.shuffled_floor)
    np.testing.assert_allclose(deltas["sbert_delta_shuffled_narration"], rep.matched - rep.shuffled_narration_floor)
    assert set(rep.per_sample()) == {
        "sbert_matched",
        *(f"sbert_{k}{s}_floor" for k in ("word_salad", "off_topic", "shuffled") for s in ("", "_narration")),
        *(f"sbert_delta_{k}{s}" for k in ("word_salad", "off_topic", "shuffled") for s in ("", "_narration")),
    }


def test_shuffled_partner_never_shares_frame_or_caption(data):
    narr, ref, salad, off, ids, frames, captions = data
    for seed in range(20):
        rep = report(narr, ref, salad, off, ids, frames, captions, seed=seed)
        partner = np.array([ids.index(p) for p in rep.shuffled_partner_ids])
        assert not any(frames[i] == frames[j] for i, j in enumerate(partner))
        assert not any(captions[i] == captions[j] for i, j in enumerate(partner))


def test_partners_spread_over_the_samples_of_the_partner_frame():
    # frame a has samples a0, a1; frame b has b0, b1, b2; frame c has c0: a's j-th sample -> j mod n of its partner
    ids = np.array(["a0", "a1", "b0", "b1", "b2", "c0"])
    frames = ["a", "a", "b", "b", "b", "c"]
    partner = shuffled_partners(ids, frames, ["A", "A", "B", "B", "B", "C"], seed=0)
    by_frame = {}
    for i, j in enumerate(partner):
        by_frame.setdefault(frames[i], []).append(str(ids[j]))
    for members in by_frame.values():
        target = {m[0] for m in members}
        assert len(target) == 1  # every sample of one frame goes to the same partner frame
    # the two samples of frame a take two different samples of its partner whenever that frame has >= 2
    assert len(set(by_frame["a"])) == min(2, {"b": 3, "c": 1}[by_frame["a"][0][0]])


def test_caption_derangement_is_valid_and_seeded():
    captions = [f"c{i % 5}" for i in range(50)]
    a = caption_derangement(captions, np.random.default_rng(3))
    b = caption_derangement(captions, np.random.default_rng(3))
    c = caption_derangement(captions, np.random.default_rng(4))
    assert sorted(a.tolist()) == list(range(50))
    assert all(captions[int(a[i])] != captions[i] for i in range(50))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_caption_derangement_refuses_a_dominant_caption():
    with pytest.raises(ValueError, match=r"belongs to 3 of 4 test frames \(more than half\)"):
        caption_derangement(["x", "x", "x", "y"], np.random.default_rng(0))
    with pytest.raises(ValueError, match="belongs to 1 of 1"):
        caption_derangement(["x"], np.random.default_rng(0))


def test_a_frame_with_two_captions_is_refused():
    with pytest.raises(ValueError, match="frame 'm:1' has more than one reference caption \\(sample_id 'b'\\)"):
        shuffled_partners(np.array(["a", "b", "c"]), ["m:1", "m:1", "m:2"], ["x", "y", "z"], seed=0)


def test_pool_floor_closed_form():
    # pool sentences equal to +e1 and -e1: their mean cosine to any reference is 0
    ref = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    pool = np.array([[1.0, 0.0], [-1.0, 0.0]])
    rep = sbert_report(
        ref,
        ref,
        pool,
        pool[:1],
        sample_ids=["a", "b", "c"],
        frame_keys=["1", "2", "3"],
        captions=["x", "y", "z"],
        narrations=None,
        seed=0,
    )
    np.testing.assert_allclose(rep.word_salad_floor, 0.0, atol=1e-15)
    np.testing.assert_allclose(rep.off_topic_floor, [1.0, 0.6, 0.0], atol=1e-15)


def test_shuffled_floor_independent_of_input_order(data):
    narr, ref, salad, off, ids, frames, captions = data
    narrations = [f"text {i % 7}" for i in range(len(ids))]
    base = report(narr, ref, salad, off, ids, frames, captions, narrations=narrations, seed=11)
    by_id = dict(zip(base.sample_ids, zip(base.shuffled_floor, base.shuffled_partner_ids, strict=True), strict=True))
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(ids))
        rep = report(
            narr[perm],
            ref[perm],
            salad,
            off,
            [ids[i] for i in perm],
            [frames[i] for i in perm],
            [captions[i] for i in perm],
            narrations=[narrations[i] for i in perm],
            seed=11,
        )
        for sid, value, partner in zip(rep.sample_ids, rep.shuffled_floor, rep.shuffled_partner_ids, strict=True):
            assert partner == by_id[sid][1]
            assert value == pytest.approx(by_id[sid][0], abs=1e-14)
        assert rep.distinct_narration_ratio == base.distinct_narration_ratio


def test_seed_changes_pairing(data):
    a = report(*data, seed=0)
    b = report(*data, seed=1)
    assert a.shuffled_partner_ids != b.shuffled_partner_ids


def test_shuffled_pairing_is_near_zero_for_unrelated_narrations():
    rng = np.random.default_rng(7)
    ref = rng.normal(size=(200, 32))
    narr = rng.normal(size=(200, 32))
    pool = rng.normal(size=(30, 32))
    ids = [f"id{i}" for i in range(200)]
    rep = sbert_report(narr, ref, pool, pool, sample_ids=ids, frame_keys=ids, captions=ids, narrations=None, seed=0)
    assert abs(float(np.mean(rep.deltas()["sbert_delta_shuffled"]))) < 0.05


def test_distinct_narration_ratio():
    ref = np.eye(4)
    rep = sbert_report(
        ref,
        ref,
        ref,
        ref,
        sample_ids=list("abcd"),
        frame_keys=list("abcd"),
        captions=list("abcd"),
        narrations=["x", "x", "y", "z"],
        seed=0,
    )
    assert rep.distinct_narration_ratio == 0.75
    assert rep.means()["distinct_narration_ratio"] == 0.75


def test_inputs_not_mutated_and_outputs_read_only(data):
    narr, ref, salad, off, ids, frames, captions = data
    copies = [x.copy() for x in (narr, ref, salad, off)]
    rep = report(narr, ref, salad, off, ids, frames, captions)
    for before, after in zip(copies, (narr, ref, salad, off), strict=True):
        np.testing.assert_array_equal(before, after)
    with pytest.raises(ValueError, match="read-only"):
        rep.matched[0] = 0.0


def test_report_errors(data):
    narr, ref, salad, off, ids, frames, captions = data
    with pytest.raises(
        ValueError,
        match=r"narration_emb and reference_emb must have the same shape, found \(39, 16\) and \(40, 16\)",
    ):
        report(narr[:-1], ref, salad, off, ids, frames, captions)
    with pytest.raises(ValueError, match=r"sample_ids: expected unique ids, found 's000' 2 times"):
        report(narr, ref, salad, off, ["s000"] + ids[:-1], frames, captions)
    with pytest.raises(ValueError, match=r"sample_ids: expected length 40 \(rows of narration_emb\), found length 39"):
        report(narr, ref, salad, off, ids[:-1], frames, captions)
    with pytest.raises(ValueError, match=r"frame_keys: expected length 40"):
        report(narr, ref, salad, off, ids, frames[:-1], captions)
    with pytest.raises(ValueError, match=r"narrations: expected length 40 .* found length 2"):
        report(narr, ref, salad, off, ids, frames, captions, narrations=["a", "b"])
    with pytest.raises(ValueError, match=r"off_topic_emb: expected embedding dimension 16 .* found shape \(30, 8\)"):
        report(narr, ref, salad, off[:, :8], ids, frames, captions)
    bad = ref.copy()
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match=r"reference_emb: expected finite values, found inf at index \(3, 2\)"):
        report(narr, bad, salad, off, ids, frames, captions)
    bad_pool = salad.copy()
    bad_pool[5] = 0.0
    with pytest.raises(ValueError, match="word_salad_emb: cosine needs non-zero rows.*index 5"):
        report(narr, ref, bad_pool, off, ids, frames, captions)


def test_dominant_caption_drops_only_the_shuffled_floors():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(6, 8))
    rep = sbert_report(
        ref,
        ref,
        ref,
        ref,
        sample_ids=list("abcdef"),
        frame_keys=list("abcdef"),
        captions=["x", "x", "x", "x", "y", "z"],
        narrations=None,
        seed=0,
    )
    assert "belongs to 4 of 6 test frames" in rep.shuffled_error and rep.shuffled_partner_ids is None
    assert set(rep.floors) == {
        "sbert_word_salad_floor",
        "sbert_word_salad_narration_floor",
        "sbert_off_topic_floor",
        "sbert_off_topic_narration_floor",
    }
    np.testing.assert_allclose(rep.matched, 1.0)


def test_a_frame_with_two_captions_is_a_data_error_not_a_skipped_floor():
    ref = np.eye(3)
    with pytest.raises(ValueError, match="more than one reference caption"):
        sbert_report(
            ref,
            ref,
            ref,
            ref,
            sample_ids=["a", "b", "c"],
            frame_keys=["m:1", "m:1", "m:2"],
            captions=["x", "y", "z"],
            narrations=None,
            seed=0,
        )
