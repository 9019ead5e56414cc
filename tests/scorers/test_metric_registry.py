from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest

import neurrator_bench.scorers  # noqa: F401  (registers every metric)
from neurrator_bench.registry import Registry
from neurrator_bench.scorers.celltype_probe import celltype_classifier
from neurrator_bench.scorers.cka import linear_cka
from neurrator_bench.scorers.frame_identification import frame_identification_accuracy, template_decode
from neurrator_bench.scorers.knn_purity import knn_purity
from neurrator_bench.scorers.metric_registry import (
    METRIC_GROUPS,
    METRICS,
    MetricGroup,
    MetricSpec,
    as_finite_array,
    get_metric,
    register_metric,
)
from neurrator_bench.scorers.retrieval import median_rank, recall_at_k, retrieval_ranks
from neurrator_bench.scorers.sbert import sbert_report

_FLOOR_KINDS = ("word_salad", "off_topic", "shuffled")
FLOORS = {f"sbert_{k}{s}_floor" for k in _FLOOR_KINDS for s in ("", "_narration")}
EXPECTED = {
    "sbert_matched",
    *FLOORS,
    *(f"sbert_delta_{k}{s}" for k in _FLOOR_KINDS for s in ("", "_narration")),
    "distinct_narration_ratio",
    "retrieval_r1",
    "retrieval_r5",
    "retrieval_r10",
    "retrieval_median_rank",
    "cka_linear",
    "knn_purity",
    "celltype_accuracy",
    "frame_identification_accuracy",
}
N, D = 24, 12


def _rng():
    return np.random.default_rng(0)


def _sbert(oracle: bool) -> dict[str, float]:
    rng = _rng()
    ref = rng.normal(size=(N, D))
    narr = ref.copy() if oracle else rng.normal(size=(N, D))
    narrations = [f"n{i}" for i in range(N)] if oracle else ["same"] * N
    pool = rng.normal(size=(30, D))
    ids = [f"s{i}" for i in range(N)]
    return sbert_report(
        narr, ref, pool, pool[::-1], sample_ids=ids, frame_keys=ids, captions=ids, narrations=narrations, seed=0
    ).means()


def _retrieval(oracle: bool) -> np.ndarray:
    rng = _rng()
    cands = rng.normal(size=(N, D))
    truth = np.arange(N)
    pred = cands.copy() if oracle else rng.normal(size=(N, D))
    return retrieval_ranks(pred, cands, truth)


def _clustered(oracle: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng()
    labels = np.repeat(np.arange(6), 4)
    centres = rng.normal(size=(6, D)) * 5
    pred = centres[labels] + rng.normal(size=(N, D)) if oracle else rng.normal(size=(N, D))
    return pred, labels


def _celltype(oracle: bool) -> float:
    pred, _ = _clustered(oracle)
    labels = np.array(["PV", "SST", "VIP"])[np.arange(N) % 3]
    if oracle:
        pred = pred + 10.0 * np.eye(D)[np.arange(N) % 3]
    return celltype_classifier(pred, labels, n_splits=4, n_permutations=0).accuracy


def _cka(oracle: bool) -> float:
    x, _ = _clustered(True)
    y = x @ np.linalg.qr(_rng().normal(size=(D, D)))[0] if oracle else _rng().normal(size=(N, D))
    return linear_cka(x, y)


def _frame_id(oracle: bool) -> float:
    rng = _rng()
    base = rng.poisson(3.0, size=(1, N, D)).astype(float)
    test = base if oracle else rng.poisson(3.0, size=(1, N, D)).astype(float)
    return frame_identification_accuracy(template_decode(np.repeat(base, 3, axis=0), test), np.arange(N))


# metric name -> f(oracle) -> value. A metric registered without an entry here fails the contract.
COMPUTE: dict[str, Callable[[bool], float]] = {
    **{name: (lambda oracle, name=name: _sbert(oracle)[name]) for name in EXPECTED if name.startswith("sbert_")},
    "distinct_narration_ratio": lambda oracle: _sbert(oracle)["distinct_narration_ratio"],
    "retrieval_r1": lambda oracle: recall_at_k(_retrieval(oracle), 1),
    "retrieval_r5": lambda oracle: recall_at_k(_retrieval(oracle), 5),
    "retrieval_r10": lambda oracle: recall_at_k(_retrieval(oracle), 10),
    "retrieval_median_rank": lambda oracle: median_rank(_retrieval(oracle)),
    "cka_linear": _cka,
    "knn_purity": lambda oracle: knn_purity(*_clustered(oracle), k=3),
    "celltype_accuracy": _celltype,
    "frame_identification_accuracy": _frame_id,
}


def test_registered_names_are_exactly_the_spec():
    assert set(METRICS.names()) == EXPECTED


@pytest.mark.parametrize("name", METRICS.names(), ids=METRICS.names())
def test_metric_contract(name):
    spec = get_metric(name)
    assert isinstance(spec, MetricSpec)
    assert spec.name == name
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name)
    low, high = spec.value_range
    assert low < high
    assert spec.chance.strip() and spec.description.strip()
    assert re.search(r"(Sec\. [45]|A\.[456])", spec.paper_section)
    assert isinstance(spec.higher_is_better, bool)
    oracle = COMPUTE[name](True)
    null = COMPUTE[name](False)
    for value in (oracle, null):
        assert math.isfinite(value)
        assert low <= value <= high
    if name not in FLOORS:
        assert (oracle > null) if spec.higher_is_better else (oracle < null)


def test_unknown_metric_suggests_near_match():
    with pytest.raises(KeyError, match="Did you mean 'retrieval_r10'"):
        get_metric("retrieval_r100")


def test_duplicate_registration_raises_and_does_not_overwrite():
    spec = get_metric("knn_purity")
    clone = MetricSpec("knn_purity", False, (0.0, 1.0), "x", "A.6", "other")
    with pytest.raises(ValueError, match="duplicate metric name 'knn_purity'"):
        register_metric(clone)
    assert get_metric("knn_purity") is spec


def test_fresh_registry_accepts_valid_spec():
    reg = Registry[MetricSpec]("metric")
    spec = MetricSpec("my_metric", True, (0.0, math.inf), "0", "Sec. 4.1", "test metric")
    reg.add(spec.name, spec)
    assert reg.get("my_metric") is spec


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "Bad Name"}, "snake_case"),
        ({"name": "r@10"}, "snake_case"),
        ({"chance": " "}, "field 'chance' must be non-empty"),
        ({"paper_section": ""}, "field 'paper_section' must be non-empty"),
        ({"value_range": (1.0, 0.0)}, r"low < high, found \(1.0, 0.0\)"),
        ({"value_range": (0.0, float("nan"))}, "low < high"),
    ],
)
def test_metric_spec_validation(kwargs, match):
    base = {
        "name": "ok_name",
        "higher_is_better": True,
        "value_range": (0.0, 1.0),
        "chance": "1/n",
        "paper_section": "A.6",
        "description": "d",
    }
    with pytest.raises(ValueError, match=match):
        MetricSpec(**{**base, **kwargs})


def test_spec_is_frozen():
    with pytest.raises(AttributeError):
        get_metric("cka_linear").higher_is_better = False  # type: ignore[misc]


def test_as_finite_array_messages():
    with pytest.raises(ValueError, match=r"v: expected a numeric array, found list"):
        as_finite_array("v", ["a", "b"], ndim=1)
    with pytest.raises(ValueError, match=r"v: expected a 2-d array, found shape \(3,\)"):
        as_finite_array("v", [1.0, 2.0, 3.0], ndim=2)


def test_every_scored_metric_comes_from_exactly_one_group():
    produced = [m for name in METRIC_GROUPS.in_order() for m in METRIC_GROUPS.get(name).metrics]
    assert len(produced) == len(set(produced))
    # the cell-type probe runs on pseudo-mouse samples and frame identification on the real-data track
    assert set(produced) == EXPECTED - {"celltype_accuracy", "frame_identification_accuracy"}
    # tables list metrics in registration order: narration scores first, then retrieval
    order = METRICS.in_order()
    assert order[0] == "sbert_matched" and order.index("retrieval_r1") < order.index("knn_purity")


def test_metric_group_validation():
    with pytest.raises(ValueError, match="unknown needs \\['spikes'\\]"):
        MetricGroup(name="g", needs=frozenset({"spikes"}), metrics=("knn_purity",), compute=lambda inputs: [])
    with pytest.raises(KeyError, match="unknown metric 'no_such_metric'"):
        MetricGroup(name="g", needs=frozenset({"embedding"}), metrics=("no_such_metric",), compute=lambda inputs: [])
    with pytest.raises(ValueError, match="aggregate must be 'mean' or 'median'"):
        MetricSpec("x_metric", True, (0.0, 1.0), "0", "A.6", "d", aggregate="max")
