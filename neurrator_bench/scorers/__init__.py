"""Standardized scorers: pure array functions plus the metric registry (paper Sec. 4.1, 4.2, 5, A.4-A.6).

Importing this package imports every scorer module explicitly; each registers its own metrics
in :data:`METRICS` at import. Functions are used from their modules, e.g.
``from neurrator_bench.scorers.retrieval import retrieval_ranks``. No I/O, no model code, no
global RNG; inputs are never modified.

Modules: ``sbert`` (Sec. 4.1, A.4, A.5), ``floor_pools`` (floor sentence pools), ``retrieval``,
``cka``, ``knn_purity`` (A.6), ``celltype_probe`` (Sec. 5), ``similarity_matrix`` (Sec. 4.2),
``frame_identification`` (real-data track),
``frame_stats`` (frame-level cluster bootstrap, paired frame differences), ``bootstrap`` (sample-level
intervals, used by the real-data track over its draws), ``metric_registry``
(metric metadata and the groups that compute them).
"""

from __future__ import annotations

# Import order is registration order, which is the order in which entries, tables and pages list the
# metrics: narration scores first, then embedding retrieval, KNN purity, CKA, the cell-type probe.
# isort: off
from neurrator_bench.scorers import sbert
from neurrator_bench.scorers import retrieval
from neurrator_bench.scorers import knn_purity
from neurrator_bench.scorers import cka
from neurrator_bench.scorers import celltype_probe
from neurrator_bench.scorers import frame_identification

# isort: on
from neurrator_bench.scorers import (
    bootstrap,
    floor_pools,
    frame_stats,
    metric_registry,
    similarity_matrix,
)
from neurrator_bench.scorers.metric_registry import METRICS, MetricSpec, get_metric, register_metric

__all__ = [
    "METRICS",
    "MetricSpec",
    "bootstrap",
    "celltype_probe",
    "cka",
    "floor_pools",
    "frame_identification",
    "frame_stats",
    "get_metric",
    "knn_purity",
    "metric_registry",
    "register_metric",
    "retrieval",
    "sbert",
    "similarity_matrix",
]
