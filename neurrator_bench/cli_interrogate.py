"""``interrogate`` and ``sae train``: what a population sees (paper Sec. 5).

A thin layer over :mod:`neurrator_bench.interrogation`.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from neurrator_bench.cli_common import fail
from neurrator_bench.cli_harness import narrator_option
from neurrator_bench.errors import NeurratorError


@click.command("interrogate")
@click.argument("model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--task", required=True, help="Task the model was trained on (its test split is interrogated).")
@click.option(
    "--populations",
    "population_specs",
    multiple=True,
    help="Comma-separated populations (repeatable): SESSION (pseudo-PV), COLUMN=VALUE (region=V1) or "
    "SESSION:COLUMN=VALUE. Default: pseudo-PV,pseudo-SST,pseudo-VIP.",
)
@click.option(
    "--sae",
    "sae_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="SAE directory (sae.safetensors + sae.json); default: train one on the dataset into OUT/sae.",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@narrator_option
@click.option("--n-boot", type=click.IntRange(min=1), default=200, show_default=True, help="Bootstrap resamples.")
@click.option(
    "--permutations", type=click.IntRange(min=0), default=1000, show_default=True, help="Classifier permutations."
)
@click.option(
    "--concept", "concepts", multiple=True, help="Concept-axis prompt (repeatable; default: the paper's six)."
)
@click.option("--no-control", is_flag=True, help="Skip the shuffled-label control.")
@click.option(
    "--simulation",
    "simulation_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="The simulation folder of a simulated dataset: adds the planted ground-truth checks.",
)
@click.option("--seed", type=int, default=0, show_default=True)
def interrogate_cmd(
    model_dir,
    dataset,
    task,
    population_specs,
    sae_dir,
    out_dir,
    narrator,
    n_boot,
    permutations,
    concepts,
    no_control,
    simulation_dir,
    seed,
) -> None:
    """Narrate and predict once per population with one model; write OUT/report.json, figures and index.html."""
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.interrogation.report import write_report
    from neurrator_bench.interrogation.run import DEFAULT_POPULATIONS, InterrogationOptions, interrogate
    from neurrator_bench.interrogation.sae import train_on_dataset

    populations = [p for spec in population_specs for p in spec.split(",") if p.strip()] or list(DEFAULT_POPULATIONS)
    opts = InterrogationOptions(
        narrator=narrator, n_boot=n_boot, n_permutations=permutations, shuffled_control=not no_control, seed=seed
    )
    if concepts:
        opts.concepts = tuple(concepts)
    start = time.perf_counter()
    try:
        ds = open_dataset(dataset)
        if sae_dir is None:
            sae_dir = Path(out_dir) / "sae"
            if not (sae_dir / "sae.json").is_file():
                train_on_dataset(ds, sae_dir, exclude_task=task, seed=seed)
                click.echo(f"[interrogate] trained an SAE on {ds.repo}'s frames (less {task}'s test frames): {sae_dir}")
        result = interrogate(
            model_dir,
            ds,
            task,
            populations,
            sae_dir=sae_dir,
            options=opts,
            simulation_dir=simulation_dir,
            echo=click.echo,
        )
        paths = write_report(result, ds, Path(out_dir))
    except (NeurratorError, KeyError, ValueError, FileNotFoundError) as exc:
        fail(exc)
    m = result.main
    c = m.classifier
    click.echo(
        f"classifier accuracy {c['accuracy']:.3f} [{c['ci_low']:.3f}, {c['ci_high']:.3f}], chance "
        f"{c['chance']:.3f}, p {c['p_value']}"
    )
    for name, v in m.stability.summary().items():
        click.echo(
            f"stability {name}: mean overlap {v['mean_overlap']:.1f}/{opts.top_k}, "
            f"{v['top_k_in_every_resample']} features in every resample"
        )
    for analysis in (m, result.control):
        if analysis is None or analysis.planted is None:
            continue
        pl = analysis.planted
        for name in analysis.names:
            parts = []
            for concept in pl["concepts"]:
                t, e = pl["tracking"][name][concept], pl["enrichment"][name][concept]
                k = pl["tracking_contrast"][name][concept]
                parts.append(
                    f"{concept}: tracking {t['value']:+.3f} [{t['low']:+.3f}, {t['high']:+.3f}], minus the others "
                    f"{k['value']:+.3f} [{k['low']:+.3f}, {k['high']:+.3f}], unique-feature enrichment "
                    f"{e['gain']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}]"
                )
            click.echo(f"planted {name}: " + "; ".join(parts))
        for concept, row in pl.get("null", {}).items():
            if isinstance(row, dict) and row.get("p") is not None:
                click.echo(
                    f"planted null {concept}: {row['population']} {row['real']:+.3f}, random deals "
                    f"{np.mean(row['null']):+.3f} on average, p {row['p']:.3f} ({pl['null']['n_deals']} deals)"
                )
    if result.control is not None:
        cc = result.control.classifier
        click.echo(
            f"shuffled control classifier accuracy {cc['accuracy']:.3f} [{cc['ci_low']:.3f}, {cc['ci_high']:.3f}]"
        )
    click.echo(f"report: {paths['index.html']} ({time.perf_counter() - start:.0f} s)")


@click.group("sae")
def sae_group() -> None:
    """Sparse autoencoders over patch tokens (the feature dictionary of `interrogate`)."""


@sae_group.command("train")
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--exclude-task", default=None, help="Leave out this task's test frames (no test frame trains it).")
@click.option("--features", "n_features", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--activation", type=click.Choice(["topk", "relu"]), default="topk", show_default=True)
@click.option("--k", type=click.IntRange(min=1), default=8, show_default=True, help="Active features (topk).")
@click.option("--l1", type=float, default=1e-3, show_default=True, help="L1 weight (relu).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def sae_train(dataset, out_dir, exclude_task, n_features, activation, k, l1, epochs, seed) -> None:
    """Train an SAE on the dataset's target patch tokens (resumes from OUT's checkpoint)."""
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.interrogation.sae import train_on_dataset

    try:
        sae = train_on_dataset(
            open_dataset(dataset),
            out_dir,
            exclude_task=exclude_task,
            n_features=n_features,
            activation=activation,
            k=k,
            l1=l1,
            epochs=epochs,
            seed=seed,
            progress=True,
        )
    except (NeurratorError, KeyError, ValueError, FileNotFoundError) as exc:
        fail(exc)
    click.echo(f"SAE: {sae.config.n_features} features over {sae.config.inputs['n_tokens']} tokens -> {out_dir}")
