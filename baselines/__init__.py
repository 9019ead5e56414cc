"""Baselines of paper A.6 (Tables A1-A3) as model kinds that ``evaluate`` loads from a model directory.

Kinds: ``ridge``, ``pca-knn``, ``cebra-knn``, ``retrieval-encoder`` (and its target-space variant
``retrieval-encoder-target``) and the floors
``floor-train-mean``, ``floor-most-frequent-caption``, ``floor-random-caption``. Each module has
``train(ds, task, out_dir, ...)`` writing a model directory (config.json + npz/safetensors/json, never
pickle) and ``load(model_dir, config)`` returning a ``DecoderModel``. :data:`BASELINES` maps each name to
its ``train`` lazily; importing this package imports no model code.
"""

from __future__ import annotations

from .registry import BASELINES, get_trainer

__all__ = ["BASELINES", "get_trainer"]
