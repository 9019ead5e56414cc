"""`simulate()`: write synthetic Allen-layout sessions, the stimulus bundle and the ground truth.

The output folder mimics an allensdk EcephysProjectCache (manifest.json, sessions.csv,
session_<sid>/session_<sid>.nwb) plus stimuli/ (frames and captions), truth/ (per-unit cell type
and tuning) and simulation.json (config, seed, version, sha256 of every file). Everything is
written into `<out>.partial/` and renamed at the end, so an interrupted run never looks complete.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from neurrator_bench import __version__
from neurrator_bench.atomic_files import file_sha256 as _sha256
from neurrator_bench.builders.allen_cache import write_cache_manifest
from neurrator_bench.builders.origin import SIMULATED_SESSION_ID_MIN

from .nwb_writer import SessionContent, SessionMeta, write_session_nwb
from .population import NATURAL_ORDER, FrameInputs, build_frame_inputs, build_population
from .presets import FULL_GENOTYPES, SimulationConfig
from .probes import build_probe_layout
from .schedule import (
    build_invalid_times,
    build_optotagging,
    build_presentations,
    build_timeline,
    running_speed,
)
from .spikes import iter_spike_chunks
from .world import StimulusFrames, render_stimulus

log = logging.getLogger(__name__)
STRAINS = {
    "wt": "C57BL/6J",
    "Pvalb": "Pvalb-IRES-Cre;Ai32",
    "Sst": "Sst-IRES-Cre;Ai32",
    "Vip": "Vip-IRES-Cre;Ai32",
}
QC_DEFAULTS = {"amplitude_cutoff": 0.1, "presence_ratio": 0.95, "isi_violations": 0.5}


@dataclass
class SimulationResult:
    """What `simulate` wrote.

    Attributes:
        out_dir: The finished output folder.
        nwb_paths: One NWB file per session, in session order.
        stimuli_dir: Folder of the stimulus bundle (bundle.json, <stimulus>/frames.npy, annotations.parquet).
        session_ids: Session ids, in session order.
    """

    out_dir: Path
    nwb_paths: list[Path]
    stimuli_dir: Path
    session_ids: list[int]


def _sub_seed(seed: int, *keys: int) -> int:
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def _stimulus_frames(cfg: SimulationConfig, seed: int) -> dict[str, StimulusFrames]:
    counts = {
        "natural_movie_one": cfg.nm1_frames,
        "natural_movie_three": cfg.nm3_frames,
        "natural_scenes": cfg.ns_images,
    }
    return {
        name: render_stimulus(name, counts[name], cfg.image_size, cfg.patch_grid, _sub_seed(seed, 100 + k))
        for k, name in enumerate(NATURAL_ORDER)
    }


def _write_bundle(stim_dir: Path, stimuli: dict[str, StimulusFrames], cfg: SimulationConfig, seed: int) -> None:
    entries = {}
    for name, st in stimuli.items():
        d = stim_dir / name
        d.mkdir(parents=True)
        np.save(d / "frames.npy", st.frames)
        table = pa.table(
            {
                "frame": pa.array(np.arange(len(st.descriptions), dtype=np.int64), pa.int64()),
                "description": pa.array(st.descriptions, pa.string()),
                "patch_descriptions": pa.array(st.patch_descriptions, pa.list_(pa.string())),
                "patch_mixtures": pa.array(
                    [
                        [[{"phrase": k, "weight": v} for k, v in mix.items()] for mix in row]
                        for row in st.patch_mixtures
                    ],
                    pa.list_(pa.list_(pa.struct([("phrase", pa.string()), ("weight", pa.float32())]))),
                ),
            }
        )
        pq.write_table(table, d / "annotations.parquet")
        entries[name] = {
            "n_frames": len(st.descriptions),
            "files": {fn: _sha256(d / fn) for fn in ("frames.npy", "annotations.parquet")},
        }
    bundle = {
        "schema_version": 1,
        "seed": seed,
        "patch_grid": list(cfg.patch_grid),
        "image_shape": [cfg.image_size, cfg.image_size],
        "stimuli": entries,
    }
    (stim_dir / "bundle.json").write_text(json.dumps(bundle, indent=2, sort_keys=True) + "\n")


def _passes_qc(units: pd.DataFrame, channels: pd.DataFrame) -> np.ndarray:
    ch = channels.set_index("id")
    valid = ch.loc[units["peak_channel_id"], "valid_data"].to_numpy(bool)
    loc = ch.loc[units["peak_channel_id"], "location"].to_numpy()
    ok = valid & ~np.isin(loc, ["", "None"]) & (units["quality"] == "good").to_numpy()
    ok &= (units["amplitude_cutoff"] <= QC_DEFAULTS["amplitude_cutoff"]).to_numpy()
    ok &= (units["presence_ratio"] >= QC_DEFAULTS["presence_ratio"]).to_numpy()
    return ok & (units["isi_violations"] <= QC_DEFAULTS["isi_violations"]).to_numpy()


def _session_row(meta: SessionMeta, genotype: str, content: SessionContent) -> dict[str, object]:
    ch, units = content.layout.channels, content.population.units
    acr = pd.unique(units["structure"])
    listed = " ".join("nan" if a in ("", "None") else f"'{a}'" for a in acr)
    return {
        "id": meta.session_id,
        "published_at": "2019-10-03T00:00:00Z",
        "specimen_id": meta.specimen_id,
        "session_type": "brain_observatory_1.1",
        "age_in_days": meta.age_in_days,
        "sex": meta.sex,
        "full_genotype": FULL_GENOTYPES[genotype],
        "unit_count": int(_passes_qc(units, ch).sum()),
        "channel_count": int((ch["valid_data"] & (ch["location"] != "")).sum()),
        "probe_count": len(content.layout.probes),
        "ecephys_structure_acronyms": f"[{listed}]",
    }


def _simulate_session(
    i: int,
    cfg: SimulationConfig,
    *,
    seed: int,
    inputs: FrameInputs,
    base_tables: dict[str, pd.DataFrame],
    t_stim_end: float,
    partial: Path,
) -> tuple[Path, dict[str, object], pd.DataFrame]:
    rng = np.random.default_rng([seed, i, 1])
    genotype = cfg.genotype_cycle[i % len(cfg.genotype_cycle)]
    sid = SIMULATED_SESSION_ID_MIN + 1_000_000 * i + int(rng.integers(0, 900_000))  # never an Allen id
    specimen = 699_000_000 + 1_000_000 * i + int(rng.integers(0, 900_000))
    start = datetime(2019, 1, 19, 8, tzinfo=timezone(timedelta(hours=-8))) + timedelta(
        days=3 * i + seed % 97, seconds=int(rng.integers(0, 36_000))
    )
    meta = SessionMeta(
        sid,
        specimen,
        specimen - 8,
        FULL_GENOTYPES[genotype],
        STRAINS[genotype],
        float(rng.integers(90, 150)),
        str(rng.choice(["M", "F"])),
        start.isoformat(),
    )
    shift = float(rng.uniform(0.0, 2.0))
    tables = {}
    for name, base in base_tables.items():
        df = base.copy()
        df[["start_time", "stop_time"]] += shift
        tables[name] = df
    has_opto = genotype != "wt" or cfg.optotagging_in_wt
    opto = build_optotagging(cfg, t_stim_end + shift + 10.0, _sub_seed(seed, i, 2)) if has_opto else None
    t_end = (float(opto["stop_time"].max()) if opto is not None and len(opto) else t_stim_end + shift) + 5.0
    layout = build_probe_layout(cfg.n_probes, seed, i)
    pop = build_population(cfg, layout, inputs, genotype, seed=seed, session_index=i)
    probes = list(zip(layout.probes["name"], layout.probes["probe_id"], strict=True))
    content = SessionContent(
        meta=meta,
        layout=layout,
        population=pop,
        presentations=tables,
        optotagging=opto,
        invalid_times=build_invalid_times(cfg, tables, probes, _sub_seed(seed, i, 3)),
        running=running_speed(t_end, cfg.running_rate_hz, _sub_seed(seed, i, 4)),
        t_end=t_end,
    )
    timeline = build_timeline(tables, t_end, cfg.baseline_segment_s)
    chunks = iter_spike_chunks(
        pop,
        inputs,
        timeline,
        opto,
        seed=seed,
        session_index=i,
        chunk=cfg.unit_chunk,
        drift_step_s=cfg.drift_step_s,
    )
    folder = partial / f"session_{sid}"
    folder.mkdir()
    path = folder / f"session_{sid}.nwb"
    write_session_nwb(path, content, chunks, _sub_seed(seed, i, 5), cfg.waveform_channels)
    truth = pop.units[["unit_id", "structure", "region_group", "true_cell_type", "tuning", "mean_rate_hz", "opto_role"]]
    return path, _session_row(meta, genotype, content), truth.reset_index(drop=True)


def simulate(
    out_dir: Path,
    config: SimulationConfig | str = "mini",
    seed: int = 0,
    n_sessions: int | None = None,
    overwrite: bool = False,
    *,
    progress: bool = False,
) -> SimulationResult:
    """Simulate sessions in the Allen Visual Coding Neuropixels NWB layout plus a stimulus bundle.

    Args:
        out_dir: Output folder; must not exist unless `overwrite`.
        config: A `SimulationConfig` or a preset name ("mini", "full").
        seed: Master seed; same (config, seed) gives byte-identical files.
        n_sessions: Overrides `config.n_sessions` when given.
        overwrite: Replace an existing `out_dir`.
        progress: Show a tqdm progress bar over sessions.

    Returns:
        Paths and ids of what was written.

    Raises:
        FileExistsError: If `out_dir` exists and `overwrite` is False.
        KeyError: If `config` names an unknown preset.
        ValueError: If `n_sessions` < 1.
    """
    cfg = SimulationConfig.preset(config) if isinstance(config, str) else config
    if n_sessions is not None:
        if n_sessions < 1:
            raise ValueError(f"n_sessions: expected >= 1, found {n_sessions}")
        cfg = cfg.model_copy(update={"n_sessions": n_sessions})
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: output folder already exists; pass overwrite=True to replace it")
    partial = out_dir.with_name(out_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    log.info("simulating %d sessions (%s preset) into %s", cfg.n_sessions, cfg.name, partial)
    stimuli = _stimulus_frames(cfg, seed)
    _write_bundle(partial / "stimuli", stimuli, cfg, seed)
    inputs = build_frame_inputs(stimuli, cfg.rf_grid, cfg.patch_grid)
    base_tables, t_stim_end = build_presentations(cfg, seed)
    (partial / "truth").mkdir()
    paths, rows, ids = [], [], []
    for i in tqdm(range(cfg.n_sessions), desc="sessions", disable=not progress):
        path, row, truth = _simulate_session(
            i, cfg, seed=seed, inputs=inputs, base_tables=base_tables, t_stim_end=t_stim_end, partial=partial
        )
        truth.to_parquet(partial / "truth" / f"session_{row['id']}_units.parquet", index=False)
        paths.append(path)
        rows.append(row)
        ids.append(int(row["id"]))
    pd.DataFrame(rows).to_csv(partial / "sessions.csv", index=False)
    write_cache_manifest(partial)
    files = {p.relative_to(partial).as_posix(): _sha256(p) for p in sorted(partial.rglob("*")) if p.is_file()}
    record = {
        "schema_version": 1,
        "package_version": __version__,
        "seed": seed,
        "session_ids": ids,
        "config": cfg.model_dump(mode="json"),
        "files": files,
    }
    (partial / "simulation.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    return SimulationResult(
        out_dir=out_dir,
        nwb_paths=[out_dir / p.relative_to(partial) for p in paths],
        stimuli_dir=out_dir / "stimuli",
        session_ids=ids,
    )
