"""Build a dataset folder from NWB sessions: staging, resume, fingerprint, card.

The build writes into ``<out>.partial/`` and renames it to ``<out>`` only when every file, the manifest
and the card are written, so an interrupted build never looks complete. Each step (stimuli, targets,
one session, pseudo-mice, pre-binned recordings) is recorded in ``<out>.partial/_build/state.json``
when finished; running the same build again skips finished steps and redoes the rest, and ends
byte-identical to an uninterrupted build. A different set of inputs or options is refused unless
``overwrite=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from neurrator_bench import __version__
from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.builders.atoms import split_globs
from neurrator_bench.builders.captions import load_captioner
from neurrator_bench.builders.card import render_card
from neurrator_bench.builders.frame_tables import read_captions, write_stimuli_config, write_targets_config
from neurrator_bench.builders.hash_cache import cached_sha256
from neurrator_bench.builders.nwb_reader import read_session
from neurrator_bench.builders.optotagging import LineSummary, merge_line_summaries
from neurrator_bench.builders.origin import combined_origin, nwb_data_origin
from neurrator_bench.builders.prebinned import PREBINNED_PREFIX, build_prebinned
from neurrator_bench.builders.pseudo_mice import build_pseudo_mice
from neurrator_bench.builders.remote_nwb import NWBLocation, RemoteNWB
from neurrator_bench.builders.sealing import SEAL_SEED, sealed_frames
from neurrator_bench.builders.session_samples import ROW_DIGEST_MODULUS, SessionOutput, build_session
from neurrator_bench.builders.shards import file_sha256
from neurrator_bench.builders.sources import (
    SessionSource,
    check_unique_sessions,
    resolve_nwb_inputs,
    session_id_from_name,
)
from neurrator_bench.builders.stimulus_bundle import StimulusSet, load_allen_templates, load_stimulus_bundle
from neurrator_bench.builders.targets import load_target_extractor
from neurrator_bench.errors import DatasetFormatError
from neurrator_bench.schemas.dataset import MANIFEST_FILENAME, ConfigFiles, DatasetManifest, WindowSpec
from neurrator_bench.schemas.sealed_references import SEALED_FILENAME, SealedFinal, SealedReferencesManifest
from neurrator_bench.tasks import TASKS, TaskSpec

logger = logging.getLogger(__name__)
DEFAULT_TARGET_MODEL = "embedded-minilm-patches"
DEFAULT_CAPTIONER = "ground-truth"
METADATA_CONFIGS = ("sessions", "units", "stimuli", "targets", "normalization", "recordings")
BO11_SESSIONS = 16


@dataclass(frozen=True)
class BuildResult:
    """Where the dataset went and its manifest."""

    path: Path
    manifest: DatasetManifest
    sealed_dir: Path | None = None
    """The maintainer folder of the sealed references (``--seal-final``), else None."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds ``reading`` NWB, ``counting`` spikes and ``writing`` samples, summed over the sessions built in
    this call (sessions finished by an earlier, interrupted call count 0)."""


def find_stimuli(inputs: Sequence[Path], stimuli_dir: Path | None, names: Sequence[str]) -> dict[str, StimulusSet]:
    """Stimulus frames for targets and captions.

    Looks at ``stimuli_dir`` (a bundle or an allensdk cache) or else beside each input folder for
    ``stimuli/bundle.json`` (the simulator's bundle) or ``natural_movie_templates/`` (an allensdk cache).

    Raises:
        FileNotFoundError: Nothing found; the message lists where it looked.
    """
    candidates = [stimuli_dir] if stimuli_dir is not None else []
    for p in inputs:
        base = p if p.is_dir() else p.parent
        candidates += [base, base.parent]
    looked = []
    for c in candidates:
        if c is None:
            continue
        for bundle in (c / "bundle.json", c / "stimuli" / "bundle.json"):
            looked.append(str(bundle))
            if bundle.exists():
                return load_stimulus_bundle(bundle.parent, names)
        looked.append(str(c / "natural_movie_templates"))
        if (c / "natural_movie_templates").is_dir():
            stim = load_allen_templates(c)
            missing = sorted(set(names) - set(stim))
            if missing:
                raise FileNotFoundError(f"{c}: allensdk stimulus templates lack {missing}")
            return {n: stim[n] for n in names}
    raise FileNotFoundError(
        "no stimulus frames found (needed for targets and captions); pass --stimuli DIR. Looked for: "
        + ", ".join(looked)
    )


def _overlap(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def check_sealed_dir(sealed_dir: Path, out: Path, inputs: Sequence[Path]) -> None:
    """Refuse a sealed-references folder that overlaps the dataset or its staging folder, or holds an input.

    Inside the dataset (or its staging folder, which becomes the dataset) the references would be published; above
    one of them, replacing it (``--overwrite``) would delete the dataset or the inputs.

    Raises:
        ValueError: Naming the two folders.
    """
    staging = out.with_name(out.name + ".partial")
    below = [(out, "the dataset folder"), (staging, "the build's staging folder")]
    for other, what in below + [(p, "an input") for p in inputs]:
        # an input may hold the sealed folder (a folder of NWB files with the dataset beside them), never sit in it
        hit = (
            _overlap(sealed_dir, other)
            if (other, what) in below
            else Path(other).resolve().is_relative_to(sealed_dir.resolve())
        )
        if hit:
            raise ValueError(
                f"--sealed-dir {sealed_dir}: overlaps {what} {other}; give a folder of its own beside the dataset "
                "(default <dataset>.sealed)"
            )


def _params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


class _State:
    """``_build/state.json``: finished steps and what they wrote."""

    def __init__(self, root: Path, params: dict) -> None:
        self.path = root / "_build" / "state.json"
        self.params = params
        if self.path.exists():
            data = json.loads(self.path.read_text())
            if data.get("params_hash") != _params_hash(params):
                raise DatasetFormatError(
                    f"{root} holds an unfinished build with different inputs or options; "
                    "rerun with overwrite=True (--overwrite) to discard it"
                )
            self.steps: dict[str, dict] = data["steps"]
        else:
            self.steps = {}

    def done(self, step: str) -> dict | None:
        entry = self.steps.get(step)
        if entry is None:
            return None
        root = self.path.parent.parent
        listed = [(root / rel, digest) for rel, digest in entry["files"].items()]
        listed += [(root / "_build" / "sealed" / rel, d) for rel, d in entry.get("sealed_files", {}).items()]
        for path, digest in listed:
            if not path.exists() or file_sha256(path) != digest:
                logger.warning("step %s: %s is missing or changed; redoing the step", step, path)
                return None
        return entry

    def finish(self, step: str, files: dict[str, str], **extra: object) -> None:
        self.steps[step] = {"files": files, **extra}
        write_text_atomic(
            self.path, json.dumps({"params_hash": _params_hash(self.params), "steps": self.steps}, sort_keys=True)
        )


def build_dataset(
    inputs: Sequence[Path],
    out: Path,
    *,
    stimuli_dir: Path | None = None,
    prebinned: Sequence[Path] = (),
    window: WindowSpec | None = None,
    target_model: str = DEFAULT_TARGET_MODEL,
    captioner: str = DEFAULT_CAPTIONER,
    tasks: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    workers: int = 1,
    executor: Executor | None = None,
    device: str = "cpu",
    batch_size: int | None = None,
    remote: Sequence[RemoteNWB] = (),
    seal_final: float | None = None,
    seal_seed: int = SEAL_SEED,
    sealed_dir: Path | None = None,
) -> BuildResult:
    """Build a spike-to-text dataset folder.

    Args:
        inputs: NWB files, folders or allensdk cache folders (see ``sources.resolve_nwb_inputs``).
        out: Dataset folder to create.
        stimuli_dir: Stimulus frames (simulator bundle or allensdk cache); found beside inputs if None.
        prebinned: Pre-binned recordings (``.mat``, see ``prebinned``), each becoming a ``real-*`` config.
        window: Bin width, window length, alignment, stride and guard band (default 120 Hz, 20 bins, centred,
            stride 1, 100 ms guard).
        target_model: ``embedded-minilm-patches`` or a CLIP id/path.
        captioner: ``ground-truth`` or a BLIP-2 id/path.
        tasks: Task names (default: all registered).
        overwrite: Replace an existing ``out`` and discard an unfinished build with other options.
        progress: Show progress bars.
        device: Torch device of the CLIP target model and the BLIP-2 captioner (float16 on CUDA).
        batch_size: Frames per forward pass of both (default: 16 for CLIP, 8 for BLIP-2).
        remote: Session files read in place over HTTP range requests (e.g. DANDI 000021 assets from
            ``dandi.dandi_sessions``); their source checksum is the sha256 the archive published. Pass
            ``stimuli_dir`` with them (the templates are not in the session files).
        workers: Sessions built at once in a local process pool (1: in this process). The output is
            byte-identical for every value (each session writes only its own files; results are recorded
            in input order).
        executor: Any ``concurrent.futures.Executor`` (e.g. a submitit ``AutoExecutor`` for SLURM, or a
            ``dask.distributed`` client's ``get_executor()``) that runs :func:`session_step`; it must see
            the staging folder (``<out>.partial``) on a shared file system. Overrides ``workers``; the
            caller owns its lifetime.
        seal_final: Seal at least this fraction of each task's test frames into a ``final`` split whose
            references go only to ``sealed_dir`` (:mod:`neurrator_bench.builders.sealing`); None: no final split.
        seal_seed: Seed of the sealed-cluster draw.
        sealed_dir: The maintainer folder of the sealed references (default ``<out>.sealed``, beside ``out``;
            never inside it).

    Returns:
        The finished dataset's path and manifest.

    Raises:
        FileExistsError: ``out`` (or the sealed folder) exists and ``overwrite`` is False.
    """
    window = window or WindowSpec()
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True (--overwrite) to replace it")
    if seal_final is not None:
        sealed_dir = Path(sealed_dir) if sealed_dir is not None else out.with_name(out.name + ".sealed")
        check_sealed_dir(sealed_dir, out, [Path(p) for p in inputs] + ([Path(stimuli_dir)] if stimuli_dir else []))
        resuming = (out.with_name(out.name + ".partial") / "_build" / "state.json").exists()
        if sealed_dir.exists() and not overwrite and not resuming:
            # (a build interrupted after its references left the staging folder resumes and replaces them)
            raise FileExistsError(f"{sealed_dir} already exists; pass overwrite=True (--overwrite) to replace it")
        if prebinned and not inputs and not remote:
            raise ValueError("--seal-final seals the NWB-built tasks; pre-binned configs alone have none to seal")
    task_specs: list[TaskSpec] = [TASKS.get(t) for t in (tasks or TASKS.names())]
    sources = resolve_nwb_inputs([Path(p) for p in inputs]) if inputs else []
    sources += [SessionSource(session_id_from_name(Path(r.name)), r, "remote") for r in remote]
    check_unique_sessions(sources)  # a session given both as a file and as a remote asset
    if not sources and not prebinned:
        raise FileNotFoundError("nothing to build: no NWB session and no pre-binned recording given")
    source_hashes = {
        str(s.nwb_path): s.nwb_path.sha256 if isinstance(s.nwb_path, RemoteNWB) else cached_sha256(s.nwb_path)
        for s in sources
    }
    source_origins = {str(s.nwb_path): nwb_data_origin(s.nwb_path) for s in sources}
    params = {
        "window": window.model_dump(),
        "target_model": target_model,
        "captioner": captioner,
        "tasks": [t.name for t in task_specs],
        # float16 image models on CUDA give other targets and captions than float32 on CPU
        "image_model_device": "cuda" if str(device).startswith("cuda") else "cpu",
        "sources": sorted(source_hashes.values()),
        "prebinned": sorted(file_sha256(Path(p)) for p in prebinned),
        "seal_final": None if seal_final is None else {"fraction": seal_final, "seed": seal_seed},
        "package_version": __version__,
    }
    root = out.with_name(out.name + ".partial")
    if overwrite and root.exists() and (root / "_build" / "state.json").exists():
        try:
            _State(root, params)
        except DatasetFormatError:
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    state = _State(root, params)

    files: dict[str, str] = {}
    atoms: list[tuple[str, str]] = []
    raw_bytes = 0
    dropped: dict[str, dict[str, int]] = {}
    sessions_origin = None
    timings: dict[str, float] = {}
    sample_digests: dict[str, str] = {}
    norm_digests: dict[str, str] = {}
    optotagging: list[LineSummary] = []
    stim_names = sorted({s for t in task_specs for s in t.stimuli})
    target_meta = {"model_id": None, "revision": None, "n_patches": 0, "dim": 0}
    captioner_meta = {"id": None, "revision": None}
    captions = {}
    session_ids: list[str] = []
    sealed: SealedFinal | None = None
    sealed_root = root / "_build" / "sealed"
    if sources:
        stimuli = None
        entry = state.done("stimuli")
        if entry is None:
            stimuli = find_stimuli([Path(p) for p in inputs], stimuli_dir, stim_names)
            if seal_final is not None:
                sizes = {name: len(st.frames) for name, st in stimuli.items()}
                sealed = sealed_frames(task_specs, sizes, fraction=seal_final, seed=seal_seed)
            cap = load_captioner(captioner, device=device, **({"batch_size": batch_size} if batch_size else {}))
            written, captions, sealed_written = write_stimuli_config(
                root,
                stimuli,
                cap,
                progress=progress,
                sealed=sealed.frames if sealed else None,
                sealed_root=sealed_root,
            )
            state.finish(
                "stimuli",
                written,
                captioner={"id": cap.captioner_id, "revision": cap.revision},
                sealed=sealed.model_dump() if sealed else None,
                sealed_files=sealed_written,
            )
            entry = state.steps["stimuli"]
        else:
            captions = read_captions(root, stim_names)
            sealed = SealedFinal.model_validate(entry["sealed"]) if entry.get("sealed") else None
        files.update(entry["files"])
        captioner_meta = entry["captioner"]
        sealed_map = sealed.frames if sealed else None  # stimulus -> sealed frames, for every later step
        entry = state.done("targets")
        if entry is None:
            stimuli = stimuli or find_stimuli([Path(p) for p in inputs], stimuli_dir, stim_names)
            phrases = next((st.patch_descriptions for st in stimuli.values() if st.patch_descriptions), None)
            extractor = load_target_extractor(
                target_model,
                stimulus_patches=len(phrases[0]) if phrases else None,
                device=device,
                progress=progress,
                **({"batch_size": batch_size} if batch_size else {}),
            )
            written, sealed_written = write_targets_config(
                root,
                stimuli,
                extractor,
                progress=progress,
                sealed=sealed_map,
                sealed_root=sealed_root,
            )
            meta = {
                "model_id": extractor.model_id,
                "revision": extractor.revision,
                "n_patches": extractor.n_patches,
                "dim": extractor.dim,
            }
            state.finish("targets", written, target=meta, sealed_files=sealed_written)
            entry = state.steps["targets"]
        files.update(entry["files"])
        target_meta = entry["target"]
        tagged_dir = root / "_build" / "tagged"
        recorded = {s.nwb_path: state.done(f"session:{s.nwb_path.name}") for s in sources}
        todo = [s for s in sources if recorded[s.nwb_path] is None]
        job = partial(
            session_step,
            root=root,
            tasks=[t.name for t in task_specs],  # names: a task's rules hold functions that do not pickle
            window=window,
            captions=captions,
            tagged_dir=tagged_dir,
            stim_names=stim_names,
            sealed=sealed_map,
        )
        with _session_runner(workers, executor) as submit:
            # every session is submitted at once; results are recorded in input order, each once it and the
            # ones before it are done, so an interrupted build resumes at the first unrecorded session
            futures = {
                s.nwb_path: submit(job, s.nwb_path, source_hashes[str(s.nwb_path)], source_origins[str(s.nwb_path)])
                for s in todo
            }
            for source in tqdm(sources, desc="sessions", disable=not progress):
                step = f"session:{source.nwb_path.name}"
                entry = recorded[source.nwb_path]
                if entry is None:
                    try:
                        session_id, reading, result = futures[source.nwb_path].result()
                    except BaseException:
                        for future in futures.values():  # stop what has not started (the pool, a cluster)
                            future.cancel()
                        raise
                    timings["reading"] = timings.get("reading", 0.0) + reading
                    for key, seconds in result.timings.items():
                        timings[key] = timings.get(key, 0.0) + seconds
                    state.finish(
                        step,
                        result.files,
                        atoms=result.atoms,
                        raw_bytes=result.raw_bytes,
                        session_id=session_id,
                        dropped=result.dropped,
                        sample_digests=result.sample_digests,
                        norm_digests=result.norm_digests,
                        optotagging=result.optotagging,
                    )
                    entry = state.steps[step]
                files.update(entry["files"])
                atoms += [tuple(a) for a in entry["atoms"]]
                raw_bytes += entry["raw_bytes"]
                session_ids.append(entry["session_id"])
                dropped[entry["session_id"]] = entry["dropped"]
                sample_digests.update(entry["sample_digests"])
                norm_digests.update(entry["norm_digests"])
                optotagging += [LineSummary.from_dict(d) for d in entry["optotagging"]]
        sessions_origin = combined_origin(source_origins.values())
        entry = state.done("pseudo-mice")
        if entry is None:
            result = build_pseudo_mice(
                root,
                tagged_dir,
                session_ids,
                tasks=task_specs,
                window=window,
                captions=captions,
                data_origin=sessions_origin,
            )
            state.finish(
                "pseudo-mice",
                result.files,
                atoms=result.atoms,
                sample_digests=result.sample_digests,
                norm_digests=result.norm_digests,
                dropped=result.dropped,
            )
            entry = state.steps["pseudo-mice"]
        files.update(entry["files"])
        for key, count in entry["dropped"].items():
            pseudo_id, what = key.split("|", 1)
            dropped.setdefault(pseudo_id, {})[what] = count
        sample_digests.update(entry["sample_digests"])
        norm_digests.update(entry["norm_digests"])
        session_ids += [Path(rel).stem for rel in entry["files"] if rel.startswith("data/sessions/")]
        atoms += [tuple(a) for a in entry["atoms"]]
    prebinned_configs: dict[str, ConfigFiles] = {}
    for path in prebinned:
        step = f"prebinned:{Path(path).name}"
        entry = state.done(step)
        if entry is None:
            result = build_prebinned(Path(path), root)
            state.finish(
                step,
                result.files,
                config=result.config_name,
                splits=result.splits,
                session_id=result.session_id,
            )
            entry = state.steps[step]
        files.update(entry["files"])
        prebinned_configs[entry["config"]] = ConfigFiles(splits=entry["splits"])
        session_ids.append(entry["session_id"])
    result = _finish(
        out,
        root,
        files=files,
        atoms=atoms,
        raw_bytes=raw_bytes,
        task_specs=task_specs if sources else [],
        window=window,
        target_meta=target_meta,
        captioner_meta=captioner_meta,
        sessions=session_ids,
        prebinned_configs=prebinned_configs,
        n_sources=len(sources),
        sessions_origin=sessions_origin,
        dropped=dropped,
        digests=(sample_digests, norm_digests),
        source_sha256=dict(sorted((s.nwb_path.name, source_hashes[str(s.nwb_path)]) for s in sources)),
        optotagging=[line.as_dict() for line in merge_line_summaries(optotagging)],
        sealed=sealed,
        sealed_files={
            **state.steps.get("stimuli", {}).get("sealed_files", {}),
            **state.steps.get("targets", {}).get("sealed_files", {}),
        },
        sealed_dir=sealed_dir,
    )
    return BuildResult(
        path=result.path,
        manifest=result.manifest,
        sealed_dir=sealed_dir if result.manifest.sealed_final else None,
        timings=timings,
    )


def session_step(
    nwb_path: NWBLocation,
    source_sha256: str,
    data_origin: str,
    *,
    root: Path,
    tasks: Sequence[str],
    window: WindowSpec,
    captions: dict[str, np.ndarray],
    tagged_dir: Path,
    stim_names: Sequence[str],
    sealed: dict[str, list[int]] | None = None,
) -> tuple[str, float, SessionOutput]:
    """Read one session NWB and write its artefacts under the staging ``root`` (the unit of a parallel build).

    Pure with respect to the build: it writes only this session's files (its sample shards, normalization
    rows, recordings and tagged-unit windows) and returns what the caller records, so it can run in any
    process or on any cluster node that sees ``root``. Tasks are passed by registered name.

    Returns:
        ``(session_id, seconds spent reading the NWB, the session's output)``.
    """
    tick = time.perf_counter()
    recording = read_session(nwb_path, stimuli=list(stim_names))
    reading = time.perf_counter() - tick
    result = build_session(
        recording,
        root,
        source_sha256=source_sha256,
        tasks=[TASKS.get(name) for name in tasks],
        window=window,
        captions=captions,
        tagged_dir=tagged_dir,
        data_origin=data_origin,
        sealed=sealed,
    )
    return str(recording.session_id), reading, result


class _Deferred:
    """A future that runs its call when its result is asked for (the serial build, one session at a time)."""

    def __init__(self, fn: Callable[..., Any], args: tuple) -> None:
        self._fn, self._args = fn, args

    def result(self) -> Any:
        return self._fn(*self._args)

    def cancel(self) -> bool:
        """Nothing runs before ``result()`` is asked for, so there is nothing to stop."""
        return False


@contextmanager
def _session_runner(workers: int, executor: Executor | None) -> Iterator[Callable[..., Any]]:
    """``submit(fn, *args)`` -> an object with ``result()``: the given executor, a process pool, or serial."""
    if executor is not None:
        yield executor.submit
        return
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, found {workers}")
    if workers == 1:
        yield lambda fn, *args: _Deferred(fn, args)
        return
    # spawn: no state (threads, open HDF5 handles, torch) is inherited from the parent process
    # a failed session cancels the queued ones (the caller's loop); leaving the pool waits for the running ones
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool.submit


def task_fingerprint(
    task: TaskSpec,
    config: ConfigFiles,
    *,
    files: dict[str, str],
    sample_digests: dict[str, str],
    norm_digests: dict[str, str],
    window: WindowSpec,
    target_meta: dict,
    captioner_meta: dict,
) -> str:
    """sha256 over everything a model of ``task`` depends on, and nothing another task adds.

    Covered: the task's name and version, the window spec, target model and captioner; per split the
    order-independent digest of its samples (sum of its shards' ``rows_digest``, so regrouping shards when a
    task is added changes nothing); the ``units`` and ``sessions`` files of its sessions; its own
    normalization rows per session; the ``stimuli`` and ``targets`` files of its stimuli.
    """
    payload: dict[str, object] = {
        "task": task.name,
        "version": task.version,
        "window": window.model_dump(),
        "target": target_meta,
        "captioner": captioner_meta,
    }
    sessions: set[str] = set()
    for split, globs in sorted(config.splits.items()):
        total = 0
        for glob in globs:
            prefix = glob.removesuffix("*.parquet")
            for rel in sorted(r for r in sample_digests if r.startswith(prefix)):
                total = (total + int(sample_digests[rel], 16)) % ROW_DIGEST_MODULUS
                sessions.add(Path(rel).stem)
        payload[f"samples:{split}"] = f"{total:064x}"
    for sid in sorted(sessions):
        for kind in ("units", "sessions"):
            payload[f"{kind}:{sid}"] = files.get(f"data/{kind}/{sid}.parquet")
        payload[f"normalization:{sid}"] = norm_digests.get(f"{sid}/{task.name}")
    for rel in sorted(files):
        parts = rel.split("/")
        if parts[1] in ("stimuli", "targets") and any(parts[2].startswith(st) for st in task.stimuli):
            payload[rel] = files[rel]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def fingerprint(files: dict[str, str]) -> str:
    """sha256 over ``relative path NUL sha256 NEWLINE`` of every data file, sorted by path."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode())
    return h.hexdigest()


def _finish(
    out: Path,
    root: Path,
    *,
    files,
    atoms,
    raw_bytes,
    task_specs,
    window,
    target_meta,
    captioner_meta,
    sessions,
    prebinned_configs,
    n_sources,
    sessions_origin,
    dropped,
    digests,
    source_sha256,
    optotagging,
    sealed: SealedFinal | None = None,
    sealed_files: dict[str, str] | None = None,
    sealed_dir: Path | None = None,
) -> BuildResult:
    configs: dict[str, ConfigFiles] = {}
    for task in task_specs:
        globs = split_globs(task, task_specs, atoms)
        missing = [s for s in ("train", "validation", "test") if s not in globs]
        if missing:
            raise DatasetFormatError(f"task {task.name}: no samples for split(s) {missing}; check the inputs' stimuli")
        configs[task.name] = ConfigFiles(splits=globs)
    origins = {name: sessions_origin for name in configs}
    origins.update({name: "prebinned-extract" for name in prebinned_configs})
    configs.update(prebinned_configs)
    present = {rel.split("/")[1] for rel in files}
    for name in METADATA_CONFIGS:
        if name in present:
            configs[name] = ConfigFiles(splits={"train": [f"data/{name}/*.parquet"]})
    data_bytes = sum((root / rel).stat().st_size for rel in files)
    sizes = {"data_bytes": data_bytes, "raw_binned_bytes": raw_bytes}
    if n_sources:
        # everything that grows with the sessions (samples, pseudo-mice, recordings, units, normalization, sessions)
        # scales to 16 sessions; the per-frame configs (stimuli, targets) are built once
        per_frame = {"stimuli", "targets"}
        kinds = {rel: rel.split("/")[1] for rel in files}
        per_session = sum(
            (root / rel).stat().st_size
            for rel, kind in kinds.items()
            if kind not in per_frame and not kind.startswith(PREBINNED_PREFIX)
        )
        once = sum((root / rel).stat().st_size for rel, kind in kinds.items() if kind in per_frame)
        sizes["estimate_16_sessions_bytes"] = int(per_session / n_sources * BO11_SESSIONS + once)
    rows: dict[Path, int] = {}  # parquet row counts, each file's footer read once

    def n_rows(path: Path) -> int:
        if path not in rows:
            rows[path] = pq.ParquetFile(path).metadata.num_rows
        return rows[path]

    split_sizes = {
        name: {
            split: sum(n_rows(p) for g in globs for p in sorted(root.glob(g))) for split, globs in cfg.splits.items()
        }
        for name, cfg in configs.items()
    }
    test_sizes: dict[str, dict[str, int]] = {}
    for task in task_specs:
        for p in (p for g in configs[task.name].splits["test"] for p in sorted(root.glob(g))):
            per = test_sizes.setdefault(task.name, {})
            per[p.stem] = per.get(p.stem, 0) + n_rows(p)
    manifest = DatasetManifest(
        package_version=__version__,
        fingerprint=fingerprint(files),
        window=window,
        target_model=target_meta["model_id"] or "none",
        target_revision=target_meta["revision"],
        target_n_patches=target_meta["n_patches"],
        target_dim=target_meta["dim"],
        captioner=captioner_meta["id"] or "none",
        captioner_revision=captioner_meta["revision"],
        task_versions={t.name: t.version for t in task_specs},
        configs=configs,
        sessions=sorted(set(sessions)),
        files=dict(sorted(files.items())),
        sizes=sizes,
        split_sizes=split_sizes,
        data_origin=origins,
        test_sizes_by_session={t: dict(sorted(v.items())) for t, v in sorted(test_sizes.items())},
        source_sha256=source_sha256,
        optotagging=optotagging,
        dropped=dropped,
        sealed_final=sealed,
        task_fingerprints={
            t.name: task_fingerprint(
                t,
                configs[t.name],
                files=files,
                sample_digests=digests[0],
                norm_digests=digests[1],
                window=window,
                target_meta=target_meta,
                captioner_meta=captioner_meta,
            )
            for t in task_specs
        },
    )
    write_text_atomic(root / MANIFEST_FILENAME, manifest.model_dump_json(indent=2))
    write_text_atomic(root / "README.md", render_card(manifest))
    if sealed is not None:
        # the references leave the staging folder before it becomes the dataset: never inside it
        staged = root / "_build" / "sealed"
        refs = SealedReferencesManifest(dataset_fingerprint=manifest.fingerprint, sealed=sealed, files=sealed_files)
        write_text_atomic(staged / SEALED_FILENAME, refs.model_dump_json(indent=2))
        old_refs = sealed_dir.with_name(sealed_dir.name + ".old")
        shutil.rmtree(old_refs, ignore_errors=True)
        if sealed_dir.exists():  # kept as .old until the new dataset is in place
            sealed_dir.replace(old_refs)
        sealed_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), str(sealed_dir))
    shutil.rmtree(root / "_build", ignore_errors=True)
    if out.exists():
        shutil.rmtree(out)
    root.replace(out)
    if sealed is not None:
        shutil.rmtree(sealed_dir.with_name(sealed_dir.name + ".old"), ignore_errors=True)
    return BuildResult(path=out, manifest=manifest)
