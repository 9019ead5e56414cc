"""Cross-narration SBERT similarity between populations (paper Sec. 4.2, Fig. 5; Sec. 5).

Given narration embeddings of the same ``n`` samples from ``k`` populations (brain regions or
cell types), entry ``(a, b)`` is the mean over samples ``i`` of ``cos(E_a[i], E_b[i])``: how
similar population ``a``'s narration of a frame is to population ``b``'s narration of the same
frame (Fig. 5: visual regions 0.69-0.79, PV-SST 0.58, VIP-PV 0.34). Rows must already be
aligned by sample id by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from neurrator_bench.scorers.metric_registry import as_finite_array, unit_rows


def cross_narration_similarity(
    embeddings: Mapping[str, np.ndarray],
) -> tuple[tuple[str, ...], np.ndarray]:
    """Mean per-sample cosine between every pair of populations' narration embeddings.

    Args:
        embeddings: Population name -> narration embeddings of shape ``(n, d)``; all with the
            same ``n`` and ``d`` and rows aligned to the same samples.

    Returns:
        ``(names, matrix)``: names in mapping order and a symmetric ``(k, k)`` float64 matrix in
        ``[-1, 1]`` whose diagonal is 1.

    Raises:
        ValueError: If the mapping is empty, or a population's array is non-finite, has an
            all-zero row, or a shape different from the first population's (names it).
    """
    if len(embeddings) == 0:
        raise ValueError("embeddings: expected at least one population, found an empty mapping")
    names = tuple(embeddings)
    units = []
    first_shape: tuple[int, ...] | None = None
    for name in names:
        arr = as_finite_array(f"embeddings[{name!r}]", embeddings[name], ndim=2)
        if first_shape is None:
            first_shape = arr.shape
        elif arr.shape != first_shape:
            raise ValueError(
                f"embeddings[{name!r}]: expected shape {first_shape} like embeddings[{names[0]!r}], found {arr.shape}"
            )
        units.append(unit_rows(f"embeddings[{name!r}]", arr))
    flat = np.stack(units).reshape(len(names), -1)  # (k, n * d)
    matrix = (flat @ flat.T) / units[0].shape[0]
    matrix = np.clip((matrix + matrix.T) / 2.0, -1.0, 1.0)
    np.fill_diagonal(matrix, 1.0)
    return names, matrix
