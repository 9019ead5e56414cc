from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.scorers.similarity_matrix import cross_narration_similarity


def test_identical_populations_give_ones():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(12, 5))
    names, m = cross_narration_similarity({"V1": e, "LGd": e.copy(), "HVC": 2.0 * e})
    assert names == ("V1", "LGd", "HVC")
    np.testing.assert_allclose(m, np.ones((3, 3)), atol=1e-12)


def test_closed_form_and_symmetry():
    n = 10
    a = np.tile([1.0, 0.0], (n, 1))
    b = np.tile([0.5, np.sqrt(3) / 2], (n, 1))  # 60 degrees from a
    c = np.tile([-1.0, 0.0], (n, 1))
    c[::2] = [0.0, 1.0]  # half anti-parallel (-1), half orthogonal (0) to a
    names, m = cross_narration_similarity({"PV": a, "SST": b, "VIP": c})
    assert names == ("PV", "SST", "VIP")
    assert m[0, 1] == pytest.approx(0.5)
    assert m[0, 2] == pytest.approx(-0.5)
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_array_equal(np.diag(m), 1.0)


def test_matches_brute_force_mean_of_rowwise_cosines():
    rng = np.random.default_rng(1)
    pops = {name: rng.normal(size=(7, 4)) for name in ("a", "b", "c")}
    names, m = cross_narration_similarity(pops)
    for i, x in enumerate(names):
        for j, y in enumerate(names):
            cos = [
                pops[x][r] @ pops[y][r] / (np.linalg.norm(pops[x][r]) * np.linalg.norm(pops[y][r])) for r in range(7)
            ]
            assert m[i, j] == pytest.approx(np.mean(cos), abs=1e-12)


def test_errors():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match=r"embeddings\['VIP'\]: expected shape \(5, 3\) like embeddings\['PV'\]"):
        cross_narration_similarity({"PV": rng.normal(size=(5, 3)), "VIP": rng.normal(size=(4, 3))})
    with pytest.raises(ValueError, match="empty mapping"):
        cross_narration_similarity({})
    bad = rng.normal(size=(5, 3))
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"embeddings\['SST'\]: expected finite values, found inf at index \(2, 1\)"):
        cross_narration_similarity({"PV": rng.normal(size=(5, 3)), "SST": bad})
    zero = rng.normal(size=(5, 3))
    zero[4] = 0.0
    with pytest.raises(ValueError, match=r"all-zero row at index 4"):
        cross_narration_similarity({"PV": zero})
