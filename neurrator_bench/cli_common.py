"""Shared pieces of the command line: error reporting and the scoring / subset options."""

from __future__ import annotations

import click


def fail(exc: Exception) -> None:
    """Exit non-zero with the exception's message."""
    raise click.ClickException(str(exc)) from exc


def scoring_options(seed: int, n_boot: int, exclusion_frames: int, permutations: int):
    """ScoringOptions from the shared flags."""
    from neurrator_bench.scoring import ScoringOptions

    return ScoringOptions(
        seed=seed, n_boot=n_boot, exclusion_frames=exclusion_frames, celltype_permutations=permutations
    )


_scoring_flags = [
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of bootstrap, derangement, probes."),
    click.option("--n-boot", type=int, default=1000, show_default=True, help="Bootstrap resamples per CI."),
    click.option(
        "--exclusion-frames",
        type=int,
        default=0,
        show_default=True,
        help="Temporal exclusion zone (+-k frames) for movie retrieval.",
    ),
    click.option(
        "--permutations",
        type=int,
        default=100,
        show_default=True,
        help="Label permutations of the cell-type probe p-value.",
    ),
]


def scoring_flags(func):
    """Attach the shared scoring options."""
    for flag in reversed(_scoring_flags):
        func = flag(func)
    return func


def echo_entry(entry, path) -> None:
    """Print every metric, CI, p-value and skipped item of an entry."""
    for m in entry.metrics:
        ci = f" [{m.ci_low:.4g}, {m.ci_high:.4g}]" if m.ci_low is not None else ""
        p = f" p={m.p_value:.3g}" if m.p_value is not None else ""
        click.echo(f"  {m.name:28s} {m.value:.4g}{ci}{p} (n={m.n})")
    for s in entry.skipped:
        click.echo(f"  skipped {s.name}: {s.reason}")
    if path is not None:
        click.echo(f"wrote {path}")


def subset_flags(func):
    """Attach --units, --n-units and --draws."""
    func = click.option("--draws", type=int, default=1, show_default=True, help="Random unit draws (with --n-units).")(
        func
    )
    func = click.option("--n-units", type=int, default=None, help="Subset query: N random units (after --units).")(func)
    return click.option(
        "--units",
        "unit_specs",
        multiple=True,
        help="Subset query COLUMN=VALUE over the units config, e.g. region=VISp... "
        "region_group=V1, cell_type=SST (repeatable).",
    )(func)
