"""Simulation settings: the `SimulationConfig` model and its named presets ("mini", "full")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Genotype = Literal["Pvalb", "Sst", "Vip", "wt"]

FULL_GENOTYPES: dict[str, str] = {
    "wt": "wt/wt",
    "Pvalb": "Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "Sst": "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "Vip": "Vip-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
}
CELL_TYPE_OF_GENOTYPE: dict[str, str] = {"Pvalb": "PV", "Sst": "SST", "Vip": "VIP", "wt": "none"}


class SimulationConfig(BaseModel):
    """Every knob of the session simulator (times in seconds, rates in spikes/s).

    Build one with `SimulationConfig.preset("mini")` or `("full")` and override fields with
    `cfg.model_copy(update={...})`. The BO1.1 stimulus structure (block order, movie frame counts,
    natural-scene counts) follows allen_nwb_layout.md section 2.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "custom"
    n_sessions: int = Field(3, ge=1)
    genotype_cycle: list[Genotype] = Field(default_factory=lambda: ["Pvalb", "Sst", "Vip", "wt"])
    optotagging_in_wt: bool = False

    # visual world / stimulus bundle
    image_size: int = Field(64, ge=16)
    patch_grid: tuple[int, int] = (4, 4)
    rf_grid: int = Field(8, ge=2)
    nm1_frames: int = Field(900, ge=10)
    nm1_repeats_per_block: int = Field(10, ge=1)
    nm3_frames: int = Field(600, ge=10)
    nm3_repeats_per_block: int = Field(5, ge=1)
    ns_images: int = Field(118, ge=2)
    ns_presentations_per_image: int = Field(50, ge=1)
    movie_frame_s: float = 0.033356
    ns_duration_s: float = 0.25

    # non-natural stimuli (rows per block) and gaps
    gabors_rows: int = Field(81, ge=1)
    flashes_rows: int = Field(10, ge=1)
    dg_rows_per_block: int = Field(8, ge=1)
    sg_rows_per_block: int = Field(40, ge=1)
    spontaneous_gap_s: float = Field(2.0, gt=0)
    long_spontaneous_s: float = Field(10.0, gt=0)
    first_start_s: float = 24.4
    opto_trials: int = Field(60, ge=0)
    n_invalid_times: int = Field(1, ge=0)
    running_rate_hz: float = Field(10.0, gt=0)

    # population
    n_probes: int = Field(3, ge=1, le=6)
    units_per_probe: int = Field(30, ge=4)
    waveform_channels: int = Field(8, ge=1, le=384)
    median_rate_hz: float = Field(5.0, gt=0)
    rate_log_sd: float = Field(0.8, ge=0)
    pv_rate_range_hz: tuple[float, float] = (10.0, 30.0)
    drift_sd: float = Field(0.25, ge=0)
    drift_step_s: float = Field(47.0, gt=0)
    baseline_segment_s: float = Field(10.0, gt=0)
    tagged_fraction: tuple[float, float] = (0.04, 0.10)
    n_decoys: int = Field(2, ge=0)
    noise_fraction: float = Field(0.12, ge=0, le=1)
    qc_fail_fraction: float = Field(0.35, ge=0, le=1)
    unit_chunk: int = Field(64, ge=1)

    @classmethod
    def preset(cls, name: str) -> SimulationConfig:
        """Return a named preset.

        Args:
            name: "mini" (3 small sessions, seconds to simulate; NM1 900x20 and natural scenes
                118+blank x 50 kept exact, NM3 shortened to 600 frames per repeat; 3 probes x 120
                units) or "full"
                (BO1.1 sizes: 6 probes, ~2200 unfiltered units, ~2.7 h sessions).

        Returns:
            The preset config.

        Raises:
            KeyError: If `name` is not a known preset.
        """
        presets = {"mini": _mini, "full": _full}
        if name not in presets:
            raise KeyError(f"unknown simulation preset {name!r}; expected one of {sorted(presets)}")
        return presets[name]()


def _mini() -> SimulationConfig:
    # 120 units per probe (~200 passing QC per session): enough for 8 / 32 / 96-unit subset queries and for
    # decoders to retrieve held-out trials far above chance, while a session still simulates in ~2 s.
    return SimulationConfig(name="mini", units_per_probe=120)


def _full() -> SimulationConfig:
    return SimulationConfig(
        name="full",
        n_sessions=6,
        image_size=96,
        patch_grid=(6, 6),
        rf_grid=12,
        nm3_frames=3600,
        gabors_rows=3645,
        flashes_rows=150,
        dg_rows_per_block=209,
        sg_rows_per_block=2000,
        spontaneous_gap_s=30.0,
        long_spontaneous_s=300.0,
        opto_trials=300,
        n_invalid_times=2,
        running_rate_hz=60.0,
        n_probes=6,
        units_per_probe=370,
        waveform_channels=32,
        qc_fail_fraction=0.55,
        unit_chunk=128,
    )
