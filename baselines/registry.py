"""The registry of baselines: name -> ``"module:train"`` (lazy, so reading it imports no model code).

Every name is also a registered model kind (``neurrator_bench.model_kinds.MODEL_KINDS``), so the
directory a baseline's ``train`` writes is loaded by ``load_model`` / ``evaluate`` like any model.
Each ``train`` has the signature ``train(ds, task, out_dir, *, sessions=None, seed=0, progress=False,
**options) -> Path``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from neurrator_bench.registry import Registry

_PACKAGE = "neurrator_bench.baselines"

BASELINES: Registry[str] = Registry("baseline")
BASELINES.add("ridge", f"{_PACKAGE}.ridge:train")
BASELINES.add("ridge-patches", f"{_PACKAGE}.ridge:train_patches")
BASELINES.add("pca-knn", f"{_PACKAGE}.pca_knn:train")
BASELINES.add("cebra-knn", f"{_PACKAGE}.cebra_knn:train")
BASELINES.add("retrieval-encoder", f"{_PACKAGE}.retrieval_encoder:train")
BASELINES.add("retrieval-encoder-target", f"{_PACKAGE}.retrieval_encoder:train_target_space")
BASELINES.add("floor-train-mean", f"{_PACKAGE}.floors:train_train_mean")
BASELINES.add("floor-most-frequent-caption", f"{_PACKAGE}.floors:train_most_frequent")
BASELINES.add("floor-random-caption", f"{_PACKAGE}.floors:train_random_caption")
BASELINES.freeze()


def get_trainer(name: str) -> Callable[..., Path]:
    """Import and return the ``train`` function of baseline ``name``.

    Raises:
        KeyError: Unknown baseline (the message lists the registered ones).
    """
    module_name, func = BASELINES.get(name).split(":")
    return getattr(importlib.import_module(module_name), func)
