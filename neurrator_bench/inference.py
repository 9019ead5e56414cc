"""Run a loaded model over a task split: z-score, optional unit subset, predict, narrate.

This is the one path behind ``neurrator-bench narrate`` (which writes the predictions file) and
``neurrator-bench evaluate`` (which then scores it). Narrators:

* ``auto`` (default): ``phrase`` for a model that predicts patches in the embedded target space, else
  ``retrieval`` (pooled-only baselines, CLIP-target datasets without LLaVA); the entry records which;
* ``phrase``: the offline generative narrator of the embedded default
  (:mod:`neurrator_bench.reference_model.phrase_narrator`), which names what each predicted patch shows with
  phrases of the simulated world's vocabulary (a three-phrase pursuit per patch) and composes a sentence;
  never trained on neural data, it can say what no training caption says. A model that predicts only a
  pooled vector is narrated as a single patch (place, lighting and objects, all "in the center"). Needs the
  embedded target space;
* ``retrieval`` (baseline narrator): the caption of the training frame of the task whose pooled target is
  nearest (cosine) to the predicted pooled vector; a memorizer by construction;
* ``llava``: the frozen LLaVA narrator fed the predicted patch tensor through the PatchInjector hook
  (needs a model that predicts patches of LLaVA's vision width).

A model that returns its own narrations (e.g. caption floors) is not re-narrated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neurrator_bench.dataset_access import (
    DatasetHandle,
    load_frame_targets,
    load_normalization,
    load_samples,
    load_session_split,
    load_units,
    split_frames,
    zscore_windows,
)
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import DecoderModel, Prediction
from neurrator_bench.subsets import unit_mask

logger = logging.getLogger(__name__)
NARRATORS = ("auto", "phrase", "retrieval", "llava")
DEFAULT_NARRATOR = "auto"


@dataclass
class PredictedSplit:
    """Predictions for a task split, one row per sample (sorted by sample_id within each session).

    Attributes:
        sample_ids: n sample ids.
        pooled: (n, dim) predicted pooled targets, or None when the model predicts none.
        narration: n narrations.
        skipped_sessions: session id -> why it was not predicted.
        narrator: How the narrations were made (``NarratorMeta`` fields), recorded in the predictions file.
        patch_features: (n, k) what ``reduce_patches`` made of each sample's predicted patches, or None.
    """

    sample_ids: list[str]
    pooled: np.ndarray | None
    narration: list[str]
    skipped_sessions: dict[str, str] = field(default_factory=dict)
    narrator: dict = field(default_factory=dict)
    patch_features: np.ndarray | None = None


class RetrievalCaptioner:
    """Nearest training frame's caption in pooled target space (the task's training frames only)."""

    def __init__(self, ds: DatasetHandle, task: str) -> None:
        from neurrator_bench.reference_model.narrators import RetrievalNarrator

        pooled, captions = [], []
        for stimulus, frames in split_frames(ds, task, "train").items():
            targets = load_frame_targets(ds, stimulus)
            pooled.append(targets.pooled[frames])
            captions += targets.captions[frames].tolist()
        self._narrator = RetrievalNarrator(np.concatenate(pooled), captions)
        self.provenance = {
            "kind": "retrieval",
            "decoding": f"caption of the nearest of {len(captions)} training frames (cosine, pooled target space)",
        }

    def __call__(self, prediction: Prediction) -> list[str]:
        """Narrate one batch of predictions."""
        if prediction.pooled is None:
            raise ModelDirectoryError("the retrieval narrator needs pooled predictions; this model returned none")
        return list(self._narrator.narrate_pooled(prediction.pooled))


class PhraseCaptioner:
    """The phrase narrator over predicted patches (or the pooled vector as one patch); see the module doc."""

    def __init__(self, ds: DatasetHandle) -> None:
        from neurrator_bench.builders.targets import EMBEDDED_TARGET_SPEC
        from neurrator_bench.reference_model.phrase_narrator import PhraseNarrator

        target = ds.manifest.target_model
        if target != EMBEDDED_TARGET_SPEC:
            raise ModelDirectoryError(
                f"{ds.root}: the phrase narrator reads patches in the embedded target space "
                f"({EMBEDDED_TARGET_SPEC!r}); this dataset's targets are {target!r}. Use --narrator llava "
                "(CLIP targets) or --narrator retrieval"
            )
        self._narrator = PhraseNarrator()
        self.provenance = dict(self._narrator.provenance)

    def __call__(self, prediction: Prediction) -> list[str]:
        """Narrate one batch of predictions."""
        if prediction.patches is not None:
            return self._narrator.narrate(np.asarray(prediction.patches, dtype=np.float32))
        if prediction.pooled is None:
            raise ModelDirectoryError("the phrase narrator needs predicted patches or a pooled vector; found neither")
        return self._narrator.narrate(np.asarray(prediction.pooled, dtype=np.float32)[:, None, :], grid=(1, 1))


class AutoCaptioner:
    """``phrase`` for predicted patches in the embedded target space, else ``retrieval`` (module doc).

    ``provenance`` is that of the narrator used; one split is never narrated by both (an error).
    """

    def __init__(self, ds: DatasetHandle, task: str) -> None:
        from neurrator_bench.builders.targets import EMBEDDED_TARGET_SPEC

        self._ds, self._task = ds, task
        self._phrase = PhraseCaptioner(ds) if ds.manifest.target_model == EMBEDDED_TARGET_SPEC else None
        self._retrieval: RetrievalCaptioner | None = None
        self.provenance: dict = {}

    def __call__(self, prediction: Prediction) -> list[str]:
        """Narrate one batch of predictions."""
        if self._phrase is not None and prediction.patches is not None:
            use: PhraseCaptioner | RetrievalCaptioner = self._phrase
        else:
            self._retrieval = self._retrieval or RetrievalCaptioner(self._ds, self._task)
            use = self._retrieval
        if self.provenance and self.provenance["kind"] != use.provenance["kind"]:
            raise ModelDirectoryError(
                f"narrator auto: one split mixes {self.provenance['kind']} and {use.provenance['kind']} "
                "narrations (some batches have patches, some do not); pass --narrator explicitly"
            )
        self.provenance = dict(use.provenance)
        return use(prediction)


class LlavaCaptioner:
    """LLaVA narration of predicted patches (paper Sec. 3.1, A.2)."""

    def __init__(self, llava: str | None) -> None:
        from neurrator_bench.reference_model.narrators import DEFAULT_LLAVA, PROMPT, LlavaNarrator

        self._narrator = LlavaNarrator(llava or DEFAULT_LLAVA)
        self.provenance = {
            "kind": "llava",
            "model_id": str(llava or DEFAULT_LLAVA),
            "prompt": PROMPT,
            "max_new_tokens": self._narrator.max_new_tokens,
            "decoding": "greedy (do_sample=False, num_beams=1)",
        }

    def __call__(self, prediction: Prediction) -> list[str]:
        """Narrate one batch of predictions."""
        if prediction.patches is None:
            raise ModelDirectoryError("the llava narrator needs predicted patches; this model predicts none")
        return list(self._narrator.narrate(prediction.patches))


def make_narrator(kind: str, ds: DatasetHandle, task: str, *, llava: str | None = None):
    """The narrator named ``kind`` (one of :data:`NARRATORS`)."""
    if kind == "auto":
        return AutoCaptioner(ds, task)
    if kind == "phrase":
        return PhraseCaptioner(ds)
    if kind == "retrieval":
        return RetrievalCaptioner(ds, task)
    if kind == "llava":
        return LlavaCaptioner(llava)
    raise ValueError(f"unknown narrator {kind!r}; choose one of {', '.join(NARRATORS)}")


def route_session(model: DecoderModel, units: pd.DataFrame, session: str) -> tuple[str, np.ndarray] | None:
    """How to decode ``session`` with ``model``: directly, or as a subset query of a pooled session.

    A session the model was not trained on (e.g. ``pseudo-PV``) can still be decoded when every one of its
    units is a column of a session the model knows (e.g. ``pseudo-tagged``): its windows are placed in
    those columns, the other columns masked out (paper Sec. 5: one model queried per cell type).

    Args:
        model: The loaded model.
        units: The dataset's ``units`` config (``load_units(ds)``: every session, in unit_index order).
        session: Session to decode.

    Returns:
        ``(model session, column of each of the session's units in it)``, or None when impossible.
    """
    known = model.sessions()
    ids = units.loc[units["session_id"] == session, "unit_id"].to_numpy()
    if session in known:
        return session, np.arange(len(ids))
    for pool in sorted(known):
        pool_ids = units.loc[units["session_id"] == pool, "unit_id"].to_numpy()
        position = {u: i for i, u in enumerate(pool_ids)}
        if all(u in position for u in ids):
            return pool, np.array([position[u] for u in ids], dtype=np.int64)
    return None


def predict_split(
    model: DecoderModel,
    ds: DatasetHandle,
    task: str,
    *,
    split: str = "test",
    sessions: Sequence[str] | None = None,
    unit_filters: Mapping[str, str] | None = None,
    n_units: int | None = None,
    seed: int = 0,
    narrator: str | AutoCaptioner | PhraseCaptioner | RetrievalCaptioner | LlavaCaptioner = DEFAULT_NARRATOR,
    llava: str | None = None,
    reduce_patches: Callable[[np.ndarray], np.ndarray] | None = None,
) -> PredictedSplit:
    """Predict and narrate every sample of ``split`` for the model's sessions.

    Args:
        model: A loaded model directory.
        ds: The dataset.
        task: Task name (its normalization statistics z-score the windows).
        split: Split to predict.
        sessions: Sessions to predict (default: every session of the split the model knows).
        unit_filters: Subset query: column -> value over the ``units`` config (e.g. region_group=V1).
        n_units: Subset query: N random units (after filters), drawn with ``seed``.
        seed: Seed of the unit draw.
        narrator: "auto", "phrase", "retrieval" or "llava", or a narrator made once by :func:`make_narrator` and
            reused (a scaling sweep loads LLaVA once, not once per point and draw).
        llava: LLaVA id or path for the llava narrator (ignored when ``narrator`` is an instance).
        reduce_patches: Maps each chunk's predicted patches (rows, n_patches, dim) to (rows, k) features kept in
            ``patch_features`` (e.g. SAE activations); the patches themselves are dropped chunk by chunk.

    Raises:
        ModelDirectoryError: The model knows none of the split's sessions, or ``reduce_patches`` is given and
            the model predicts no patches.
    """
    in_split = sorted(set(load_samples(ds, task, split)["session_id"]))
    candidates = list(sessions) if sessions is not None else in_split
    units = load_units(ds)
    routes = {s: r for s in candidates if (r := route_session(model, units, s))}
    wanted = sorted(routes)
    if not wanted:
        raise ModelDirectoryError(
            f"model decodes sessions {model.sessions()} but {task}/{split} has {in_split}: nothing to predict"
        )
    narrate = make_narrator(narrator, ds, task, llava=llava) if isinstance(narrator, str) else narrator
    ids: list[str] = []
    pooled: list[np.ndarray] = []
    narration: list[str] = []
    skipped = {s: "the model knows none of this session's units" for s in candidates if s not in routes}
    own_narrations = False
    features: list[np.ndarray] = []
    for session in wanted:
        mask = None
        if unit_filters or n_units is not None:
            try:
                mask = unit_mask(units[units["session_id"] == session], unit_filters, n_units, seed)
            except ValueError as exc:
                skipped[session] = str(exc)
                continue
        part = load_session_split(ds, task, split, session)
        pool, columns = routes[session]
        # z-score with the statistics of the member the session is decoded through (for pseudo-PV/SST/VIP the
        # pseudo-tagged pool the model was trained on), restricted to the session's columns in that pool
        mean, std = load_normalization(ds, task, pool)
        if pool != session:
            mean, std = mean[columns], std[columns]
        x = zscore_windows(part.spikes, mean, std)
        if pool != session:
            n_pool = int((units["session_id"] == pool).sum())
            pooled_x = np.zeros((x.shape[0], n_pool, x.shape[2]), dtype=np.float32)
            pooled_x[:, columns] = x
            pool_mask = np.zeros(n_pool, dtype=bool)
            pool_mask[columns] = True if mask is None else mask
            x, mask = pooled_x, pool_mask
        ids += part.meta["sample_id"].tolist()
        # a model whose rows are independent says how many it predicts per call (`rows_per_call`): its patch
        # predictions (576 x 1024 float32 = 2.4 MB a sample with CLIP-L) are narrated and dropped chunk by chunk
        step = getattr(model, "rows_per_call", None) or max(len(x), 1)
        for lo in range(0, len(x), step):
            pred = model.predict(pool, x[lo : lo + step], unit_mask=mask)
            narration += pred.narration if pred.narration is not None else narrate(pred)
            own_narrations = own_narrations or pred.narration is not None
            if pred.pooled is not None:
                pooled.append(np.asarray(pred.pooled, dtype=np.float32))
            if reduce_patches is not None:
                if pred.patches is None:
                    raise ModelDirectoryError(
                        f"model kind {model.config.get('model_kind')!r} predicts no patch tokens; this analysis "
                        "reads predicted patches (the reference encoder and ridge-patches predict them)"
                    )
                features.append(np.asarray(reduce_patches(pred.patches), dtype=np.float32))
    if not ids:
        raise ModelDirectoryError(f"no session could be predicted: {skipped}")
    return PredictedSplit(
        sample_ids=ids,
        pooled=np.concatenate(pooled) if pooled else None,
        narration=narration,
        skipped_sessions=skipped,
        narrator={"kind": "model", "decoding": "the model's own narrations"} if own_narrations else narrate.provenance,
        patch_features=np.concatenate(features) if features else None,
    )
