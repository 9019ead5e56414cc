"""Train the reference model on a built dataset: one Neurrator encoder per session -> a model directory.

`train_reference` reads each session's train/validation windows and patch targets
(`dataset_access.load_supervised`: uint8 counts z-scored per batch, and one target row per distinct frame),
trains an encoder with early stopping on validation (`training.train_encoder`), saves it as a member
(`model_dir.save_model_dir`) and finally writes the top-level config.json of the "neurrator-encoder" kind
(`model_kinds.write_model_config`).

Crash safety: everything is written into ``<out_dir>.partial`` and renamed to ``out_dir`` at the end.
Per-epoch checkpoints live in ``<out_dir>.partial/.checkpoints/<session_id>/``; calling
`train_reference` again with the same arguments resumes an interrupted run (finished members are kept,
the interrupted session continues from its last epoch and ends with the same weights as an uninterrupted
run). A ``.partial`` folder left by a call with other arguments is discarded. Checkpoints are removed
before the rename.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm.auto import tqdm

from neurrator_bench import __version__
from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.dataset_access import DatasetHandle, load_sessions, load_supervised, open_dataset
from neurrator_bench.model_kinds import write_model_config

from .config import EncoderConfig, TrainConfig
from .encoder import count_parameters
from .model_dir import CONFIG_NAME, MODEL_KIND, save_model_dir
from .training import train_encoder

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "embedded.json"
CHECKPOINTS = ".checkpoints"
RUN_FILE = "run.json"
PSEUDO_TAGGED = "pseudo-tagged"
CONFIG_FILE_KEYS = ("description", "encoder", "train")
DATA_DERIVED = ("n_units",)


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read an override file ``{"description": str, "encoder": {...}, "train": {...}}``.

    Args:
        path: JSON file; "encoder" holds EncoderConfig fields (n_units excluded: it comes from the data),
            "train" holds TrainConfig fields. Both are optional.

    Returns:
        (encoder overrides, train overrides).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Invalid JSON, unknown top-level key, a non-object block, or an n_units field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training config file not found")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: expected JSON, found invalid text: {err}") from err
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object with keys {list(CONFIG_FILE_KEYS)}, found {document!r}")
    unknown = sorted(set(document) - set(CONFIG_FILE_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; expected only {list(CONFIG_FILE_KEYS)}")
    blocks = []
    for key in ("encoder", "train"):
        block = document.get(key, {})
        if not isinstance(block, dict):
            raise ValueError(f"{path}: field {key!r} expected an object of overrides, found {block!r}")
        blocks.append(dict(block))
    derived = [name for name in DATA_DERIVED if name in blocks[0]]
    if derived:
        raise ValueError(f"{path}: field 'encoder.{derived[0]}' is taken from the dataset; remove it")
    return blocks[0], blocks[1]


def default_sessions(ds: DatasetHandle) -> list[str]:
    """Every session of kind "recording", plus "pseudo-tagged" when the dataset has it.

    Args:
        ds: Opened dataset.

    Returns:
        Session ids, recordings sorted first.
    """
    table = load_sessions(ds)
    chosen = sorted(table.loc[table["kind"] == "recording", "session_id"].astype(str))
    if PSEUDO_TAGGED in set(table["session_id"].astype(str)):
        chosen.append(PSEUDO_TAGGED)
    return chosen


def _encoder_config(overrides: dict[str, Any], ds: DatasetHandle, n_units: int, source: Path) -> EncoderConfig:
    """EncoderConfig from the file's overrides; targets and window from the dataset unless overridden."""
    manifest = ds.manifest
    from_data = {"n_patches": manifest.target_n_patches, "patch_dim": manifest.target_dim}
    for name, value in from_data.items():
        if name in overrides and overrides[name] != value:
            raise ValueError(
                f"{source}: field 'encoder.{name}' is {overrides[name]}, but dataset {ds.repo} has targets with "
                f"{name}={value}; use a config made for these targets (or drop the field)"
            )
    fields = {"window_bins": manifest.window.window_bins, **overrides, **from_data, "n_units": n_units}
    try:
        return EncoderConfig.model_validate(fields)
    except ValidationError as err:
        raise ValueError(f"{source}: invalid field in 'encoder': {err}") from err


def _train_config(overrides: dict[str, Any], seed: int, source: Path) -> TrainConfig:
    try:
        return TrainConfig.model_validate({**overrides, "seed": seed})
    except ValidationError as err:
        raise ValueError(f"{source}: invalid field in 'train': {err}") from err


def _run_signature(**fields: Any) -> dict[str, Any]:
    text = json.dumps(fields, sort_keys=True, default=str)
    return {**fields, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _prepare_partial(partial: Path, signature: dict[str, Any]) -> None:
    """Reuse a .partial folder of the same run (resume), discard one of another run."""
    run_file = partial / CHECKPOINTS / RUN_FILE
    if partial.exists():
        previous = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else None
        if previous is not None and previous.get("sha256") == signature["sha256"]:
            logger.info("resuming the interrupted run in %s", partial)
            return
        logger.warning("discarding %s: it was left by a run with other arguments", partial)
        shutil.rmtree(partial)
    write_text_atomic(run_file, json.dumps(signature, indent=2, sort_keys=True) + "\n")


def _finished_member(member: Path, signature: str) -> dict[str, Any] | None:
    """Training metadata of a member saved by this same run, else None."""
    path = member / CONFIG_NAME
    if not path.is_file():
        return None
    training = json.loads(path.read_text(encoding="utf-8")).get("training", {})
    return training if training.get("run_sha256") == signature else None


def _train_session(
    ds: DatasetHandle,
    task: str,
    session_id: str,
    encoder_overrides: dict[str, Any],
    train_config: TrainConfig,
    *,
    partial: Path,
    signature: dict[str, Any],
    source: Path,
    progress: bool,
) -> dict[str, Any]:
    """Train (or resume) one member and save it; returns its training metadata."""
    member = partial / "sessions" / session_id
    done = _finished_member(member, signature["sha256"])
    if done is not None:
        logger.info("session %s already trained in %s", session_id, member)
        return done
    start = time.perf_counter()
    train = load_supervised(ds, task, "train", session_id, patches=True)
    val = load_supervised(ds, task, "validation", session_id, patches=True)
    config = _encoder_config(encoder_overrides, ds, int(train.windows.shape[1]), source)
    logger.info(
        "session %s: %d train / %d validation samples, %d units, %d distinct target frames",
        session_id,
        len(train.windows),
        len(val.windows),
        config.n_units,
        len(train.patches.table),
    )
    # raw counts and per-frame targets: z-scored and gathered per batch (train_encoder), never materialised
    result = train_encoder(
        train.windows,
        train.patches,
        val.windows,
        val.patches,
        config,
        train_config,
        checkpoint_dir=partial / CHECKPOINTS / session_id,
        progress=progress,
    )
    metadata = {
        "session_id": session_id,
        "task": task,
        "dataset": {"repo": ds.repo, "revision": ds.revision, "fingerprint": ds.task_fingerprint(task)},
        "train": train_config.model_dump(mode="json"),
        "n_units": config.n_units,
        "n_train": len(train.windows),
        "n_validation": len(val.windows),
        "n_parameters": count_parameters(result.model),
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "history": [
            {"epoch": r.epoch, "train_loss": r.train_loss, "val_loss": r.val_loss, "lr": r.lr} for r in result.history
        ],
        "train_seconds": round(time.perf_counter() - start, 3),
        "package_version": __version__,
        "run_sha256": signature["sha256"],
    }
    zscore = {
        "dataset": ds.repo,
        "revision": ds.revision,
        "fingerprint": ds.task_fingerprint(task),
        "config": "normalization",
        "task": task,
        "session_id": session_id,
        "fields": ["mean", "std"],
    }
    save_model_dir(result.model.cpu(), member, metadata, zscore_reference=zscore, overwrite=True)
    return metadata


def _publish(partial: Path, out_dir: Path) -> None:
    """Rename the finished .partial folder to out_dir, replacing an existing one last."""
    if out_dir.exists():
        backup = out_dir.with_name(f".{out_dir.name}.old")
        if backup.exists():
            shutil.rmtree(backup)
        out_dir.rename(backup)
        partial.rename(out_dir)
        shutil.rmtree(backup)
    else:
        partial.rename(out_dir)


def train_reference(
    dataset: str | Path | DatasetHandle,
    task: str,
    out_dir: Path,
    *,
    sessions: list[str] | None = None,
    config_file: Path | None = None,
    name: str = "neurrator-reference",
    revision: str = "main",
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Train one Neurrator encoder per session of a dataset task and write a "neurrator-encoder" model dir.

    Args:
        dataset: Dataset folder, Hub repo id, or an opened DatasetHandle.
        task: Task config to train on (e.g. "nm1-contiguous-middle").
        out_dir: Model directory to create.
        sessions: Session ids; default every session of kind "recording" plus "pseudo-tagged" if present.
        config_file: JSON with "encoder" and "train" override dicts; default configs/embedded.json.
            n_patches / patch_dim / window_bins default to the dataset's; n_units comes from each session.
        name: Model name recorded in config.json.
        revision: Model revision recorded in config.json.
        seed: Seed of every training draw (overrides the file's train.seed); the same for every session.
        overwrite: Replace an existing out_dir.
        progress: Show tqdm bars over sessions and epochs.

    Returns:
        out_dir.

    Raises:
        FileExistsError: out_dir exists and overwrite is False.
        KeyError: Unknown task or session.
        ValueError: Invalid config file, or its targets disagree with the dataset's.
        DatasetFormatError: A session has no samples in the train or validation split.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: model directory already exists; pass overwrite=True to replace it")
    ds = dataset if isinstance(dataset, DatasetHandle) else open_dataset(dataset)
    if task not in ds.tasks():
        raise KeyError(f"dataset {ds.repo} has no task {task!r}; tasks: {ds.tasks()}")
    known = set(load_sessions(ds)["session_id"].astype(str))
    chosen = default_sessions(ds) if sessions is None else [str(s) for s in sessions]
    unknown = [s for s in chosen if s not in known]
    if unknown or not chosen:
        raise KeyError(f"sessions: {unknown or chosen} not in dataset {ds.repo}; known sessions: {sorted(known)}")
    source = DEFAULT_CONFIG if config_file is None else Path(config_file)
    encoder_overrides, train_overrides = read_config_file(source)
    train_config = _train_config(train_overrides, seed, source)
    _encoder_config(encoder_overrides, ds, 1, source)  # fail fast on a config that cannot fit the dataset
    signature = _run_signature(
        dataset_fingerprint=ds.task_fingerprint(task),
        task=task,
        sessions=chosen,
        encoder=encoder_overrides,
        train=train_config.model_dump(mode="json", exclude={"device"}),
        package_version=__version__,
    )
    partial = out_dir.with_name(f"{out_dir.name}.partial")
    _prepare_partial(partial, signature)
    history: dict[str, dict[str, Any]] = {}
    for session_id in tqdm(chosen, disable=not progress, desc="sessions"):
        meta = _train_session(
            ds,
            task,
            session_id,
            encoder_overrides,
            train_config,
            partial=partial,
            signature=signature,
            source=source,
            progress=progress,
        )
        history[session_id] = {
            key: meta[key]
            for key in (
                "n_units",
                "n_train",
                "n_validation",
                "n_parameters",
                "best_epoch",
                "best_val_loss",
                "epochs_run",
                "stopped_early",
                "train_seconds",
            )
        }
        logger.info(
            "session %s: best epoch %d, val loss %.5f, %.1f s",
            session_id,
            meta["best_epoch"],
            meta["best_val_loss"],
            meta["train_seconds"],
        )
    encoder_block = _encoder_config(encoder_overrides, ds, 1, source).model_dump(mode="json", exclude={"n_units"})
    write_model_config(
        partial,
        {
            "model_kind": MODEL_KIND,
            "name": name,
            "revision": revision,
            "task": task,
            "dataset_fingerprint": ds.task_fingerprint(task),
            "dataset": {"repo": ds.repo, "revision": ds.revision, "fingerprint": ds.task_fingerprint(task)},
            "target_dim": ds.manifest.target_dim,
            "n_patches": ds.manifest.target_n_patches,
            "window_bins": encoder_block["window_bins"],
            "n_parameters": sum(h["n_parameters"] for h in history.values()),
            "training_sessions": chosen,
            "members": {s: f"sessions/{s}" for s in chosen},
            "encoder": encoder_block,
            "train": train_config.model_dump(mode="json"),
            "config_file": source.name,
            "history": history,
            "seed": seed,
            "package_version": __version__,
            "license": "MIT",
            "url": None,
        },
    )
    shutil.rmtree(partial / CHECKPOINTS)
    _publish(partial, out_dir)
    logger.info("wrote %s (%d sessions)", out_dir, len(chosen))
    return out_dir
