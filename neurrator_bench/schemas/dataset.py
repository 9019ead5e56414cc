"""Schema of a built neurrator-bench dataset folder (one module, one format).

A dataset folder holds parquet shards plus ``README.md`` (the dataset card whose YAML lists the configs)
and ``neurrator_manifest.json`` (:class:`DatasetManifest`). Configs:

* task configs (``nm1-sparse-random``, ...; see :mod:`neurrator_bench.tasks`): one row per 120 Hz
  reference bin (every ``stride``-th bin of each movie repeat / scene presentation; see
  :mod:`neurrator_bench.builders.bin_samples`), features :func:`sample_features`. ``frame`` is the frame
  displayed at the reference bin's centre, ``bin_index`` the reference bin within its repeat (movies) or
  presentation (scenes). ``spikes`` is a ``(n_units, window_bins)`` uint8 array of raw spike counts, axis
  order **(unit, bin)**; unit ``i`` is row ``unit_index == i`` of that session in the ``units`` config;
  bin ``j`` counts spikes in the half-open interval ``[t_start + j * bin_s, t_start + (j + 1) * bin_s)``.
* ``sessions``, ``units``, ``stimuli``, ``targets``, ``normalization``: metadata tables.
* ``real-*`` configs: pre-binned real recordings (same sample features).
"""

from __future__ import annotations

from typing import Literal

from datasets import Array2D, Features, Image, List, Value
from pydantic import BaseModel, ConfigDict, Field, field_validator

from neurrator_bench.schemas.sealed_references import SealedFinal

DATASET_SCHEMA_VERSION = 2
"""2: per-bin samples (``bin_index``), ``recordings`` config, ``data_origin``, per-task fingerprints."""
MANIFEST_FILENAME = "neurrator_manifest.json"
PSEUDO_MOUSE_PREFIX = "pseudo-"
"""Session ids ``pseudo-<cell type>`` are genotype pseudo-mice (paper A.3), not recordings of their own."""


def is_pseudo_mouse(session_id: str) -> bool:
    """Whether a session id names a pseudo-mouse (tagged units pooled across recorded sessions)."""
    return str(session_id).startswith(PSEUDO_MOUSE_PREFIX)


def sample_features(window_bins: int, count_dtype: str = "uint8") -> Features:
    """Features of one spike-to-text sample (task and ``real-*`` configs).

    Args:
        window_bins: Bins per window.
        count_dtype: "uint8" for 120 Hz windows, "uint16" for coarse pre-binned recordings.
    """
    return Features(
        {
            "sample_id": Value("string"),
            "session_id": Value("string"),
            "stimulus": Value("string"),
            "repeat": Value("int32"),
            "frame": Value("int32"),
            "bin_index": Value("int32"),
            "onset": Value("float64"),
            "t_start": Value("float64"),
            "bin_s": Value("float64"),
            "spikes": Array2D(shape=(None, window_bins), dtype=count_dtype),
            "caption": Value("string"),
        }
    )


UNITS_FEATURES = Features(
    {
        "session_id": Value("string"),
        "unit_index": Value("int32"),
        "unit_id": Value("int64"),
        "source_session_id": Value("string"),
        "region_group": Value("string"),
        "structure": Value("string"),
        "probe": Value("string"),
        "cell_type": Value("string"),
        "quality": Value("string"),
        "amplitude_cutoff": Value("float64"),
        "presence_ratio": Value("float64"),
        "isi_violations": Value("float64"),
        "firing_rate": Value("float64"),
        "snr": Value("float64"),
        "opto_reliability": Value("float64"),
        "opto_median_latency_s": Value("float64"),
        "opto_rate_ratio": Value("float64"),
    }
)

SESSIONS_FEATURES = Features(
    {
        "session_id": Value("string"),
        "kind": Value("string"),
        "data_origin": Value("string"),
        "session_type": Value("string"),
        "genotype": Value("string"),
        "cell_line": Value("string"),
        "subject_id": Value("string"),
        "source_file": Value("string"),
        "source_sha256": Value("string"),
        "source_sessions": List(Value("string")),
        "n_units_nwb": Value("int32"),
        "n_units": Value("int32"),
        "qc_failed_by": Value("string"),
    }
)

STIMULI_FEATURES = Features(
    {
        "stimulus": Value("string"),
        "frame": Value("int32"),
        "caption": Value("string"),
        "image": Image(),
    }
)


def target_features(n_patches: int, dim: int) -> Features:
    """Features of the ``targets`` config: one row per (stimulus, frame)."""
    return Features(
        {
            "stimulus": Value("string"),
            "frame": Value("int32"),
            "patches": Array2D(shape=(n_patches, dim), dtype="float16"),
            "pooled": List(Value("float32"), length=dim),
        }
    )


NORMALIZATION_FEATURES = Features(
    {
        "task": Value("string"),
        "session_id": Value("string"),
        "unit_index": Value("int32"),
        "unit_id": Value("int64"),
        "mean": Value("float64"),
        "std": Value("float64"),
        "n_bins": Value("int64"),
        "zero_variance": Value("bool"),
    }
)

RECORDINGS_FEATURES = Features(
    {
        "session_id": Value("string"),
        "stimulus": Value("string"),
        "segment": Value("int32"),
        "repeat": Value("int32"),
        "t0": Value("float64"),
        "bin_s": Value("float64"),
        "n_units": Value("int32"),
        "n_bins": Value("int32"),
        "frame_of_bin": List(Value("int32")),
        "running_speed": List(Value("float32")),
        "valid": List(Value("bool")),
        "unit_index": List(Value("int32")),
        "bin": List(Value("int32")),
        "count": List(Value("uint8")),
    }
)
"""``recordings`` config: one row per (session, stimulus, segment) with the continuous half-open 120 Hz counts
the samples are cut from, stored sparse: ``count[i]`` spikes of unit ``unit_index[i]`` in bin ``bin[i]`` (bin ``k``
is ``[t0 + k * bin_s, t0 + (k + 1) * bin_s)``; absent pairs are 0). ``frame_of_bin[k]`` is the frame shown at the
bin's centre (-1 when none); ``running_speed[k]`` the running-wheel speed (cm/s) interpolated at the bin's centre
(null when the NWB has none); ``valid[k]`` is False where the bin overlaps an applied ``invalid_times`` span.
Segments are movie repeats and single scene presentations. Eye tracking is not
included."""


class WindowSpec(BaseModel):
    """Where samples sit on the 120 Hz grid and how each sample's window is placed around its bin.

    Paper A.2: "20-bin windows (~167 ms at 120 Hz)"; its code centres the window on every bin
    (``X[c - 10 : c + 10]``). See :mod:`neurrator_bench.builders.bin_samples` for the exact rule.
    """

    model_config = ConfigDict(extra="forbid")
    bin_s: float = Field(1.0 / 120.0, gt=0, description="Bin width in seconds (paper A.2: 120 Hz).")
    window_bins: int = Field(20, ge=1, description="Bins per window (paper A.2: ~167 ms = 20 bins).")
    alignment: Literal["centred", "causal"] = Field(
        "centred",
        description=(
            "centred (the paper's code): bins [b - window_bins // 2, b - window_bins // 2 + window_bins) around "
            "reference bin b; causal: bins [b, b + window_bins), the response that follows the reference bin."
        ),
    )
    stride: int = Field(1, ge=1, description="Bins between reference bins (1: every bin, as the paper).")
    guard_s: float = Field(
        0.1,
        ge=0,
        description=(
            "Response latency of the guard band (s): a training or validation window [a, b) is dropped when "
            "[a - guard_s, b) overlaps the display of a held-out frame."
        ),
    )


class ConfigFiles(BaseModel):
    """Data files of one config, per split (paths relative to the dataset root, globs allowed)."""

    model_config = ConfigDict(extra="forbid")
    splits: dict[str, list[str]]


class DatasetManifest(BaseModel):
    """``neurrator_manifest.json``: provenance and fingerprint of a built dataset."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = DATASET_SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _supported(cls, v: int) -> int:
        if v != DATASET_SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {v} is not supported by this package (expected {DATASET_SCHEMA_VERSION}: per-bin "
                "samples with bin_index, data_origin, per-task fingerprints); rebuild it with neurrator-bench build"
            )
        return v

    package_version: str
    fingerprint: str = Field(description="sha256 over (relative path, sha256) of every data file, sorted.")
    window: WindowSpec
    target_model: str
    target_revision: str | None
    target_n_patches: int
    target_dim: int
    captioner: str
    captioner_revision: str | None
    task_versions: dict[str, int]
    configs: dict[str, ConfigFiles]
    sessions: list[str]
    files: dict[str, str] = Field(description="relative path -> sha256 of every data file")
    sizes: dict[str, int] = Field(default_factory=dict, description="byte counts (data files, raw counts, ...)")
    split_sizes: dict[str, dict[str, int]] = Field(default_factory=dict, description="config -> split -> rows")
    data_origin: dict[str, str] = Field(
        default_factory=dict,
        description="task / real-* config -> allen | simulated | prebinned-extract (or mixed:<origins>)",
    )
    test_sizes_by_session: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="task -> session -> test samples"
    )
    source_sha256: dict[str, str] = Field(
        default_factory=dict, description="source NWB file name -> sha256 (hashed once, cached on path/size/mtime)"
    )
    optotagging: list[dict] = Field(
        default_factory=list,
        description="per Cre line: tagged units, units judged, trials per session (optotagging.LineSummary)",
    )
    task_fingerprints: dict[str, str] = Field(
        default_factory=dict,
        description="task -> sha256 over that task's samples, sessions, normalization, stimuli and targets only "
        "(unchanged when another task is added); models, predictions and entries of a task carry it",
    )
    sealed_final: SealedFinal | None = Field(
        None,
        description="the sealed final test (build --seal-final): which frames are sealed; their references are in "
        "the maintainer folder only (neurrator_bench.schemas.sealed_references)",
    )
    dropped: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="session -> 'invalid:<stimulus>' / 'guard:<task>' / 'sealed:<task>' -> windows dropped "
        "(invalid span / guard band / near a sealed frame)",
    )
