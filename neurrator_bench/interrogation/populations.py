"""Populations to interrogate, and one readout per population from the same trained model.

Paper Sec. 5: "we construct a frame-aligned 'pseudo-mouse' per genotype by concatenating the optotagged columns
across sessions of the same line, possible because every animal views the identical NM1 frame sequence. The
same trained Neurrator is then queried once per pseudo-population."

A population spec is one of:

- ``SESSION``: every unit of one session of the dataset (``pseudo-PV``, ``pseudo-SST``, ``pseudo-VIP``, or a
  recorded session id);
- ``COLUMN=VALUE[&COLUMN=VALUE...]`` (``region=V1``): those units of every recorded session that has them
  (``subsets.parse_unit_filters`` columns and aliases);
- ``SESSION:COLUMN=VALUE[&...]``: those units of one session.

Rows are aligned across populations by test bin, the key ``(stimulus, repeat, bin_index)``: every animal sees
the same bins. A population spanning several sessions has several rows per bin; its per-bin value is their mean
(our choice: a bin weighs the same whatever the number of sessions). Analyses run on the bins every population
covers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from neurrator_bench.dataset_access import DatasetHandle, load_samples, load_sessions, load_units
from neurrator_bench.inference import predict_split
from neurrator_bench.subsets import parse_unit_filters, unit_mask

KEY_COLUMNS = ("stimulus", "repeat", "bin_index")


@dataclass(frozen=True)
class PopulationSpec:
    """Which units a population is: ``sessions`` (None: every recorded session) and unit ``filters``."""

    name: str
    sessions: tuple[str, ...] | None
    filters: dict[str, str] = field(default_factory=dict)


def parse_population(spec: str, ds: DatasetHandle) -> PopulationSpec:
    """Parse one population spec (module docstring).

    Raises:
        ValueError: An unknown session or a malformed filter, naming the spec and what is allowed.
    """
    spec = spec.strip()
    known = set(load_sessions(ds)["session_id"].astype(str))
    head, colon, tail = spec.partition(":")
    if colon:
        if head not in known:
            raise ValueError(f"population {spec!r}: unknown session {head!r}; the dataset has {sorted(known)}")
        return PopulationSpec(spec, (head,), parse_unit_filters(tail.split("&")))
    if "=" in spec:
        return PopulationSpec(spec, None, parse_unit_filters(spec.split("&")))
    if spec not in known:
        raise ValueError(
            f"population {spec!r}: not a session of the dataset ({sorted(known)}) and not a COLUMN=VALUE filter"
        )
    return PopulationSpec(spec, (spec,))


def recorded_sessions(ds: DatasetHandle) -> list[str]:
    """Sessions of real or simulated animals (not pseudo-mice)."""
    s = load_sessions(ds)
    return sorted(s.loc[s["kind"] != "pseudo-mouse", "session_id"].astype(str))


def shuffled_populations(ds: DatasetHandle, pool: str, by: str, seed: int) -> list[PopulationSpec]:
    """Shuffled-label control: ``pool``'s units dealt at random into groups of the sizes its ``by`` labels have.

    For ``pseudo-tagged`` and ``cell_type`` that is three populations of 13, 11 and 11 random tagged units (when
    those are PV / SST / VIP's counts), named ``shuffled-<label>``.
    """
    units = load_units(ds, pool)
    if units.empty:
        raise ValueError(f"shuffled control: session {pool!r} has no units in {ds.repo}")
    labels = units[by].astype(str).to_numpy()
    permuted = labels[np.random.default_rng(seed).permutation(labels.size)]
    ids = units["unit_id"].astype(str).to_numpy()
    return [
        PopulationSpec(f"shuffled-{lab}", (pool,), {"unit_id": "|".join(ids[permuted == lab])})
        for lab in sorted(set(labels))
    ]


@dataclass(frozen=True)
class Readout:
    """One population's predictions on the test split, one row per predicted sample.

    Attributes:
        spec: The population.
        samples: (n,) sample metadata (sample_id, session_id, stimulus, repeat, frame, bin_index).
        narration: (n,) narrations.
        features: (n, m) reduced patch predictions (SAE activations), or None.
        units: session -> units used.
        skipped: session -> why it was not predicted.
    """

    spec: PopulationSpec
    samples: pd.DataFrame
    narration: np.ndarray
    features: np.ndarray | None
    units: dict[str, int]
    skipped: dict[str, str]


def read_population(
    model,
    ds: DatasetHandle,
    task: str,
    spec: PopulationSpec,
    *,
    narrator,
    reduce_patches: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Readout:
    """Predict and narrate the test split through ``spec``'s units only (one model, one narrator for all)."""
    sessions = list(spec.sessions) if spec.sessions is not None else recorded_sessions(ds)
    pred = predict_split(
        model,
        ds,
        task,
        sessions=sessions,
        unit_filters=spec.filters or None,
        narrator=narrator,
        reduce_patches=reduce_patches,
    )
    meta = load_samples(ds, task, "test").set_index("sample_id").loc[pred.sample_ids].reset_index()
    units_df = load_units(ds)
    counts = {
        str(s): int(unit_mask(units_df[units_df["session_id"] == s], spec.filters or None).sum())
        for s in sorted(set(meta["session_id"]))
    }
    return Readout(
        spec=spec,
        samples=meta[["sample_id", "session_id", *KEY_COLUMNS, "frame"]],
        narration=np.asarray(pred.narration, dtype=object),
        features=pred.patch_features,
        units=counts,
        skipped=pred.skipped_sessions,
    )


def bin_keys(samples: pd.DataFrame) -> np.ndarray:
    """``stimulus/repeat/bin_index`` of each row (the alignment key)."""
    return (
        samples["stimulus"].astype(str) + "/" + samples["repeat"].astype(str) + "/" + samples["bin_index"].astype(str)
    ).to_numpy()


@dataclass(frozen=True)
class Aligned:
    """Populations on their common bins.

    Attributes:
        keys: (K,) common bin keys, sorted.
        stimulus: (K,) stimulus of each bin.
        frame: (K,) frame shown at each bin.
        rows: population -> (n_p,) index into ``keys`` of each of its rows inside the common bins.
        keep: population -> (n_p_all,) bool, which of its readout rows are inside the common bins.
    """

    keys: np.ndarray
    stimulus: np.ndarray
    frame: np.ndarray
    rows: dict[str, np.ndarray]
    keep: dict[str, np.ndarray]

    def per_bin_mean(self, name: str, values: np.ndarray) -> np.ndarray:
        """(K, ...) mean over ``name``'s rows of each common bin of its (kept) per-row ``values``."""
        idx = self.rows[name]
        v = np.asarray(values, dtype=np.float64)
        out = np.zeros((self.keys.size, *v.shape[1:]))
        np.add.at(out, idx, v)
        return out / np.bincount(idx, minlength=self.keys.size).reshape(-1, *([1] * (v.ndim - 1)))


def align(readouts: Sequence[Readout]) -> Aligned:
    """The bins every population covers, and where each population's rows fall among them.

    Raises:
        ValueError: Populations share no bin (e.g. different stimuli), naming their bin counts.
    """
    per = {r.spec.name: bin_keys(r.samples) for r in readouts}
    common = sorted(set.intersection(*(set(k) for k in per.values())))
    if not common:
        raise ValueError(
            "populations share no test bin: " + ", ".join(f"{n}: {len(set(k))} bins" for n, k in per.items())
        )
    keys = np.array(common, dtype=object)
    position = {k: i for i, k in enumerate(common)}
    rows, keep = {}, {}
    first = readouts[0]
    by_key = dict(zip(per[first.spec.name], first.samples["frame"].to_numpy(), strict=True))
    stim_of = dict(zip(per[first.spec.name], first.samples["stimulus"].astype(str).to_numpy(), strict=True))
    for r in readouts:
        k = per[r.spec.name]
        keep[r.spec.name] = np.array([x in position for x in k])
        rows[r.spec.name] = np.array([position[x] for x in k if x in position], dtype=np.int64)
    return Aligned(
        keys=keys,
        stimulus=np.array([stim_of[k] for k in common], dtype=object),
        frame=np.array([by_key[k] for k in common], dtype=np.int64),
        rows=rows,
        keep=keep,
    )
