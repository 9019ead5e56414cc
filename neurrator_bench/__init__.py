"""neurrator-bench: spike-to-language decoding datasets, reference model, baselines and scorers."""

from __future__ import annotations

__version__ = "0.1.0"
