"""Commands that score: score, evaluate, narrate, scaling, realdata, regimes."""

from __future__ import annotations

from pathlib import Path

import click

from neurrator_bench.cli_common import (
    echo_entry,
    fail,
    narrator_from_flags,
    references_option,
    scoring_flags,
    split_option,
    subset_flags,
)
from neurrator_bench.errors import NeurratorError
from neurrator_bench.inference import DEFAULT_NARRATOR, NARRATORS

narrator_option = click.option(
    "--narrator",
    type=click.Choice(list(NARRATORS)),
    default=DEFAULT_NARRATOR,
    show_default=True,
    help="auto: phrase for predicted patches in the embedded target space, else retrieval; phrase: the "
    "offline generative narrator; retrieval: nearest training caption (a memorizing baseline); llava: frozen "
    "LLaVA through the PatchInjector.",
)


@click.command()
@click.argument("predictions", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--revision", default=None, help="Hub revision of --dataset.")
@click.option("--task", required=True, help="Task name (see `neurrator-bench tasks`).")
@click.option("--out", "results_dir", type=click.Path(path_type=Path), default=None, help="Results folder.")
@click.option("--model-name", default=None, help="Model name for the entry (default: the file's stem).")
@click.option("--model-revision", default="main", show_default=True, help="Model revision for the entry.")
@click.option(
    "--narrator",
    "narrator_kind",
    default=None,
    help="How the narrations were made (retrieval, llava, ...); default: the file's metadata, else 'unspecified'.",
)
@click.option("--narrator-model", default=None, help="Narrator model id (e.g. llava-hf/llava-1.5-7b-hf).")
@click.option("--narrator-revision", default=None, help="Narrator model revision.")
@click.option(
    "--text-space",
    default=None,
    help="Sentence model the predicting model was trained against, if any (flags training in the scorer's space).",
)
@split_option("test: the public live test; final: the sealed final test (needs --references, the maintainer folder).")
@references_option("for --split final.")
@scoring_flags
def score(
    predictions,
    dataset,
    revision,
    task,
    results_dir,
    model_name,
    model_revision,
    narrator_kind,
    narrator_model,
    narrator_revision,
    text_space,
    split,
    references,
    scoring,
) -> None:
    """Score a predictions file (sample_id + embedding and/or narration); runs no model code.

    PREDICTIONS is a parquet or CSV file: the package's own (its metadata must match --dataset/--task) or a
    plain one written by pandas or pyarrow (matched by sample_id to the --task test split).

    Example: neurrator-bench score preds.parquet --dataset ds --task nm1-contiguous-middle --out results
    """
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.schemas.predictions import read_predictions
    from neurrator_bench.schemas.result_entry import ModelMeta, write_entry
    from neurrator_bench.scoring import score_predictions

    narrator = narrator_from_flags(narrator_kind, narrator_model, narrator_revision)
    if references is not None and split != "final":
        raise click.UsageError("--references only applies with --split final")
    try:
        ds = open_dataset(dataset, revision=revision)
        refs = None
        if references is not None:
            from neurrator_bench.schemas.sealed_references import open_references

            refs = open_references(references, dataset_fingerprint=ds.manifest.fingerprint)
        entry = score_predictions(
            read_predictions(predictions),
            ds,
            task,
            model=ModelMeta(name=model_name or predictions.stem, revision=model_revision, text_space=text_space),
            options=scoring,
            narrator=narrator,
            split=split,
            references=refs,
        )
        path = write_entry(results_dir, entry) if results_dir is not None else None
    except (NeurratorError, KeyError, ValueError) as exc:
        fail(exc)
    echo_entry(entry, path)


@click.command()
@click.argument("model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--task", required=True, help="Task name.")
@click.option("--out", "results_dir", type=click.Path(path_type=Path), default=None, help="Results folder.")
@narrator_option
@click.option("--llava", default=None, help="LLaVA id or path for --narrator llava.")
@click.option("--predictions-out", type=click.Path(path_type=Path), default=None, help="Keep the predictions file.")
@subset_flags
@scoring_flags
def evaluate(
    model_dir,
    dataset,
    task,
    results_dir,
    narrator,
    llava,
    predictions_out,
    unit_specs,
    n_units,
    draws,
    scoring,
) -> None:
    """Predict, narrate and score a model directory (never unpickles anything).

    Example: neurrator-bench evaluate models/ref --dataset ds --task nm1-contiguous-middle --out results
    """
    from neurrator_bench.evaluation import evaluate_model
    from neurrator_bench.schemas.result_entry import entry_path
    from neurrator_bench.subsets import parse_unit_filters

    try:
        entry = evaluate_model(
            model_dir,
            dataset,
            task,
            results_dir=results_dir,
            narrator=narrator,
            llava=llava,
            unit_filters=parse_unit_filters(unit_specs),
            n_units=n_units,
            draws=draws,
            seed=scoring.seed,
            options=scoring,
            predictions_out=predictions_out,
        )
    except (NeurratorError, KeyError, ValueError, FileNotFoundError) as exc:
        fail(exc)
    echo_entry(entry, entry_path(results_dir, entry) if results_dir is not None else None)


@click.command("narrate")
@click.argument("model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--task", required=True, help="Task name.")
@narrator_option
@click.option("--llava", default=None, help="LLaVA id or path (default llava-hf/llava-1.5-7b-hf).")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Predictions parquet to write.",
)
@split_option("final: the sealed final test's samples (submit the file; only the maintainer can score it).")
@subset_flags
def narrate_cmd(model_dir, dataset, task, narrator, llava, out_file, split, unit_specs, n_units, draws) -> None:
    """Write the predictions parquet (sample_id, embedding, narration) that `score` accepts.

    Example: neurrator-bench narrate models/ref --dataset ds --task nm1-front-only --out preds.parquet
    """
    from neurrator_bench.evaluation import narrate
    from neurrator_bench.subsets import parse_unit_filters

    if draws != 1:
        raise click.UsageError("narrate writes one predictions file: --draws must be 1")
    try:
        path, skipped = narrate(
            model_dir,
            dataset,
            task,
            out_file,
            narrator=narrator,
            llava=llava,
            unit_filters=parse_unit_filters(unit_specs),
            n_units=n_units,
            split=split,
        )
    except (NeurratorError, KeyError, ValueError) as exc:
        fail(exc)
    for session, reason in skipped.items():
        click.echo(f"skipped session {session}: {reason}")
    click.echo(f"wrote {path}")


@click.command()
@click.argument("model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--task", required=True, help="Task name.")
@click.option(
    "--region",
    "regions",
    multiple=True,
    default=("V1", "higher_visual", "LGd", "hippocampus"),
    show_default=True,
    help="Region group (repeatable).",
)
@click.option(
    "--size",
    "sizes",
    type=int,
    multiple=True,
    default=(8, 16, 32, 64, 128),
    show_default=True,
    help="Population size (repeatable).",
)
@click.option("--draws", type=int, default=3, show_default=True, help="Random unit draws per point.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for the table and PNG.")
@click.option(
    "--results",
    "results_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write one result entry per point here.",
)
@narrator_option
@click.option("--llava", default=None, help="LLaVA id or path for --narrator llava (loaded once for the sweep).")
@scoring_flags
def scaling(
    model_dir,
    dataset,
    task,
    regions,
    sizes,
    draws,
    out_dir,
    results_dir,
    narrator,
    llava,
    scoring,
) -> None:
    """Score vs population size per region from subset queries of one model (paper Fig. 4).

    Example: neurrator-bench scaling models/ref --dataset ds --task nm1-contiguous-middle --out scaling
    """
    from neurrator_bench.evaluation import scaling_curve, write_scaling_report

    try:
        table = scaling_curve(
            model_dir,
            dataset,
            task,
            regions=regions,
            sizes=sizes,
            draws=draws,
            seed=scoring.seed,
            results_dir=results_dir,
            options=scoring,
            narrator=narrator,
            llava=llava,
        )
        paths = write_scaling_report(table, out_dir)
    except (NeurratorError, KeyError, ValueError) as exc:
        fail(exc)
    click.echo(table.to_string(index=False))
    click.echo(f"wrote {paths['csv']} and {paths['png']}")


@click.command()
@click.option("--dataset", required=True, help="Dataset folder with a real-* config.")
@click.option("--config", default="real-nm1-791319847", show_default=True, help="Pre-binned real config.")
@click.option("--region", "regions", multiple=True, default=("V1", "higher_visual", "hippocampus"), show_default=True)
@click.option("--size", "sizes", type=int, multiple=True, default=(5, 10, 20, 30, 50), show_default=True)
@click.option("--draws", type=int, default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--decoder",
    "decoders",
    multiple=True,
    default=("template-euclidean",),
    show_default=True,
    help="Frame-identification decoder (repeatable; 'all' for every one): template-euclidean, "
    "template-correlation, ridge, pca-knn, cebra-knn, reference-encoder.",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def realdata(dataset, config, regions, sizes, draws, seed, decoders, out_dir) -> None:
    """Real-data track: movie-second identification by region and population size, per decoder.

    Example: neurrator-bench realdata --dataset ds --decoder all --draws 5 --out realdata
    """
    from neurrator_bench.realdata_decoders import FRAME_ID_DECODERS
    from neurrator_bench.realdata_track import run_realdata_track, write_realdata_report

    if "all" in decoders:
        decoders = FRAME_ID_DECODERS.in_order()

    try:
        table = run_realdata_track(
            dataset,
            config=config,
            regions=tuple(regions),
            sizes=tuple(sizes),
            draws=draws,
            seed=seed,
            decoders=tuple(decoders),
            progress=True,
        )
        paths = write_realdata_report(table, out_dir)
    except (NeurratorError, KeyError, ValueError) as exc:
        fail(exc)
    cols = ["decoder", "region", "n_units", "accuracy_mean", "ci_low", "ci_high", "chance", "skipped"]
    click.echo(table[cols].to_string(index=False))
    click.echo("wrote " + ", ".join(str(p) for p in paths.values()))


@click.command()
@click.option("--dataset", required=True, help="Dataset folder in the embedded target space.")
@click.option(
    "--task",
    "tasks",
    multiple=True,
    default=None,
    help="Task (repeatable); default: nm1-sparse-random, nm1-contiguous-middle, nm1-front-only, "
    "scenes-identity-holdout.",
)
@click.option(
    "--models",
    "models_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder of the per-task reference models (trained when absent, reused when present).",
)
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    help="Baseline that predicts patches, narrated beside the reference model (repeatable; default: ridge-patches).",
)
@click.option("--no-baselines", is_flag=True, help="Only the reference model and the narrator's bounds.")
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None, help="Also write the markdown here.")
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=None, help="Also write entries.")
@scoring_flags
def regimes(dataset, tasks, models_dir, baselines, no_baselines, out_file, results_dir, scoring) -> None:
    """The regime table: reference model x narrator x task, with the narrator's ceiling and floors (Sec. 4.1).

    Example: neurrator-bench regimes --dataset ds --models models --out regimes.md
    """
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.regime_table import REGIME_BASELINES, REGIME_TASKS, regime_table, render_regime_table

    if no_baselines and baselines:
        raise click.UsageError("--no-baselines and --baseline exclude each other")

    try:
        result = regime_table(
            open_dataset(dataset),
            models_dir,
            tasks=tuple(tasks) or REGIME_TASKS,
            baselines=() if no_baselines else tuple(baselines) or REGIME_BASELINES,
            seed=scoring.seed,
            options=scoring,
            results_dir=results_dir,
            echo=click.echo,
        )
    except (NeurratorError, KeyError, ValueError) as exc:
        fail(exc)
    text = render_regime_table(result)
    click.echo(text)
    if out_file is not None:
        out_file.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out_file}")
