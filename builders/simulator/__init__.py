"""Session simulator: synthetic Allen Visual Coding Neuropixels sessions with a captioned visual world.

Public API::

    from neurrator_bench.builders.simulator import SimulationConfig, simulate, SimulationResult
    res = simulate(out_dir, config="mini", seed=0)
"""

from __future__ import annotations

from .presets import SimulationConfig
from .simulate import SimulationResult, simulate

__all__ = ["SimulationConfig", "SimulationResult", "simulate"]
