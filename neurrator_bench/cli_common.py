"""Shared pieces of the command line: error reporting and the scoring / subset options."""

from __future__ import annotations

import functools
from pathlib import Path

import click


def fail(exc: Exception) -> None:
    """Exit non-zero with the exception's message."""
    raise click.ClickException(str(exc)) from exc


def narrator_from_flags(kind: str | None, model_id: str | None, revision: str | None = None):
    """The ``NarratorMeta`` that ``--narrator``/``--narrator-model``/``--narrator-revision`` name (None: none given).

    A model id or revision without a kind is recorded as kind ``unspecified``.
    """
    if not (kind or model_id or revision):
        return None
    from neurrator_bench.schemas.result_entry import NarratorMeta

    return NarratorMeta(kind=kind or "unspecified", model_id=model_id, revision=revision)


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
    click.option(
        "--block-frames",
        type=click.IntRange(min=1),
        default=30,
        show_default=True,
        help="Movie frames per resampling block of every interval and test (30 = 1 s).",
    ),
    click.option(
        "--session-level/--no-session-level",
        default=False,
        show_default=True,
        help="Also resample sessions, as an outer level of the bootstrap.",
    ),
]


def scoring_flags(func):
    """Attach the shared scoring options, handed to the command as one ``scoring: ScoringOptions`` argument.

    ``--seed`` also seeds a command's unit draws (``scoring.seed``).
    """

    @functools.wraps(func)
    def wrapper(*args, seed, n_boot, exclusion_frames, permutations, block_frames, session_level, **kwargs):
        from neurrator_bench.scoring import ScoringOptions

        scoring = ScoringOptions(
            seed=seed,
            n_boot=n_boot,
            exclusion_frames=exclusion_frames,
            celltype_permutations=permutations,
            block_frames=block_frames,
            session_level=session_level,
        )
        return func(*args, scoring=scoring, **kwargs)

    for flag in reversed(_scoring_flags):
        wrapper = flag(wrapper)
    return wrapper


def echo_entry(entry, path) -> None:
    """Print every metric, CI, p-value and skipped item of an entry."""
    for m in entry.metrics:
        ci = f" [{m.ci_low:.4g}, {m.ci_high:.4g}]" if m.ci_low is not None else ""
        p = f" p={m.p_value:.3g}" if m.p_value is not None else ""
        extra = "".join(
            f" {label}={v:.4g}" for label, v in (("chance", m.chance), ("ceiling", m.ceiling)) if v is not None
        )
        frames = f", {m.n_frames} frames" if m.n_frames is not None else ""
        click.echo(f"  {m.name:34s} {m.value:.4g}{ci}{p}{extra} (n={m.n}{frames})")
    if entry.narrator is not None:
        click.echo(f"  narrator: {entry.narrator.label()}")
    if entry.statistics is not None:
        st = entry.statistics
        click.echo(
            f"  statistics: {st.n_samples} samples, {st.n_frames} frames, {st.n_sessions} sessions; "
            f"resampled: {st.cluster_unit}"
        )
    if entry.gallery:
        click.echo(
            "  retrieval gallery: "
            + ", ".join(f"{k} {v} of {entry.gallery_frames.get(k, v)} frames" for k, v in entry.gallery.items())
        )
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


def split_option(help_text: str):
    """``--split test|final`` (the live test, or the sealed final test of a ``build --seal-final`` dataset)."""
    return click.option(
        "--split", type=click.Choice(["test", "final"]), default="test", show_default=True, help=help_text
    )


def references_option(help_text: str):
    """``--references DIR``: the maintainer folder of a dataset's sealed references (``build --seal-final``)."""
    return click.option(
        "--references",
        type=click.Path(path_type=Path, exists=True, file_okay=False),
        default=None,
        help="Maintainer folder of the sealed references (written by `build --seal-final`): " + help_text,
    )
