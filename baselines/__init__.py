"""Baselines (paper A.6)."""
