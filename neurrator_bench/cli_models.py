"""Commands that train and publish: train, baselines, demo, leaderboard, compare."""

from __future__ import annotations

import time
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
from neurrator_bench.realdata import REAL_NM1_EXTRACT


@click.command()
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--task", required=True, help="Task name.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Model directory to write.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="JSON with 'encoder' and 'train' overrides (default: the embedded-default config).",
)
@click.option(
    "--session",
    "sessions",
    multiple=True,
    help="Session to train on (repeatable; default: all recorded sessions plus pseudo-tagged).",
)
@click.option("--name", default="neurrator-reference", show_default=True, help="Model name in results.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
def train(dataset, task, out_dir, config_file, sessions, name, seed, overwrite) -> None:
    """Train the reference Neurrator encoder (paper A.2); resumes an interrupted run.

    Example: neurrator-bench train --dataset ds --task nm1-sparse-random --out models/ref
    """
    from neurrator_bench.reference_model.train_on_dataset import train_reference

    start = time.perf_counter()
    try:
        path = train_reference(
            dataset,
            task,
            out_dir,
            sessions=list(sessions) or None,
            config_file=config_file,
            name=name,
            seed=seed,
            overwrite=overwrite,
            progress=True,
        )
    except (NeurratorError, FileExistsError, KeyError, ValueError) as exc:
        fail(exc)
    click.echo(f"wrote {path} in {time.perf_counter() - start:.1f} s")


@click.group()
def baselines() -> None:
    """Baselines of paper A.6: ridge, PCA+KNN, CEBRA+KNN, retrieval-only encoder, floors."""


@baselines.command("run")
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--task", required=True, help="Task name.")
@click.option("--out", "results_dir", type=click.Path(path_type=Path), required=True, help="Results folder.")
@click.option(
    "--models",
    "models_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where model directories go (default: <out>/../models).",
)
@click.option("--baseline", "names", multiple=True, help="Baseline to run (repeatable; default: all).")
@scoring_flags
def baselines_run(
    dataset,
    task,
    results_dir,
    models_dir,
    names,
    scoring,
) -> None:
    """Train every baseline and score it through the same evaluate path.

    Example: neurrator-bench baselines run --dataset ds --task nm1-sparse-random --out results
    """
    from neurrator_bench.baselines.run import run_baselines

    try:
        entries = run_baselines(
            dataset,
            task,
            results_dir,
            models_dir=models_dir or results_dir.parent / "models",
            names=list(names) or None,
            seed=scoring.seed,
            progress=True,
            options=scoring,
        )
    except (NeurratorError, KeyError, ValueError) as exc:
        fail(exc)
    for name, entry in entries.items():
        click.echo(f"{name}:")
        echo_entry(entry, None)


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for everything.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--task", default="nm1-contiguous-middle", show_default=True, help="Task of the baselines and the compare table."
)
@click.option(
    "--prebinned",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=REAL_NM1_EXTRACT,
    show_default="the real Allen extract shipped in the package",
    help="Pre-binned real recording (.mat) added to the dataset and run through the real-data track.",
)
@click.option("--no-realdata", is_flag=True, help="Skip the real pre-binned recording and the real-data track.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
def demo(out_dir, seed, task, prebinned, no_realdata, overwrite) -> None:
    """The whole benchmark offline on the embedded default: simulate, build, train, evaluate, leaderboard.

    Example: neurrator-bench demo --out demo
    """
    from neurrator_bench.demo import run_demo

    start = time.perf_counter()
    try:
        result = run_demo(
            out_dir,
            seed=seed,
            task=task,
            prebinned=None if no_realdata else prebinned,
            overwrite=overwrite,
            progress=True,
            echo=click.echo,
        )
    except (NeurratorError, FileExistsError, KeyError, ValueError) as exc:
        fail(exc)
    click.echo(result.regime_text)
    click.echo(result.compare_text)
    click.echo(
        f"site: {result.site_index}\nmarkdown: {result.markdown}\ndemo wall time: {time.perf_counter() - start:.1f} s"
    )


def _open_references(references: Path | None, ds):
    """The sealed references of ``ds`` read from ``references`` (None when not given)."""
    if references is None:
        return None
    from neurrator_bench.schemas.sealed_references import open_references

    return open_references(references, dataset_fingerprint=ds.manifest.fingerprint)


@click.group()
def leaderboard() -> None:
    """Validate result entries, build the static site, submit results."""


@leaderboard.command("validate")
@click.argument("results_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--dataset",
    default=None,
    help="Also re-score every verified entry of this dataset from its predictions file and compare each number.",
)
@references_option("re-scores verified final entries.")
def leaderboard_validate(results_dir: Path, dataset: str | None, references: Path | None) -> None:
    """Check every entry; non-zero exit if any fail.

    Checks: schema, ranges, NaN, duplicates, fingerprints, data origins, dropped metrics, the predictions hash of
    verified entries, and with --dataset their scores against a re-score.

    Example: neurrator-bench leaderboard validate results --dataset dataset
    """
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.leaderboard.validate import validate_results

    if references is not None and not dataset:
        raise click.UsageError("--references only applies with --dataset")
    try:
        ds = open_dataset(dataset) if dataset else None
        refs = _open_references(references, ds)
    except NeurratorError as exc:
        fail(exc)
    problems = validate_results(results_dir, dataset=ds, references=refs)
    for p in problems:
        click.echo(str(p), err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {results_dir}")
    click.echo(f"{results_dir}: all entries valid")


@leaderboard.command("build")
@click.argument("results_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Site folder.")
@click.option("--title", default="neurrator-bench leaderboard", show_default=True)
@click.option(
    "--interrogation",
    "interrogations",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="An `interrogate --out` folder to publish and link from its model's page (repeatable).",
)
def leaderboard_build(results_dir: Path, out_dir: Path, title: str, interrogations: tuple[Path, ...]) -> None:
    """Render the static site (index.html, per-model pages, plots, leaderboard.md); opens from disk.

    Example: neurrator-bench leaderboard build results --out site
    """
    from neurrator_bench.leaderboard.site import build_site

    try:
        index = build_site(results_dir, out_dir, title=title, interrogations=interrogations)
    except (NeurratorError, FileExistsError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    click.echo(f"wrote {index}")


@leaderboard.command("submit")
@click.argument("targets", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--repo", "repo_id", default=None, help="Hugging Face dataset repo of results (entries mode).")
@click.option("--offline", is_flag=True, help="Only write the submission bundle and say what to upload.")
@click.option("--model-name", default=None, help="Predictions mode: the model's name.")
@click.option("--model-revision", default="main", show_default=True, help="Predictions mode: the model revision.")
@click.option("--task", "tasks", multiple=True, help="Predictions mode: task of each plain file, in order.")
@click.option("--narrator", "narrator_kind", default=None, help="Predictions mode: narrator of files that name none.")
@click.option("--narrator-model", default=None, help="Predictions mode: narrator model id.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Predictions mode: bundle.")
@click.option("--overwrite", is_flag=True, help="Predictions mode: replace an existing bundle folder.")
@split_option("Predictions mode: split of plain files (package files name their own; final = the sealed final test).")
@subset_flags
def leaderboard_submit(
    targets: tuple[Path, ...],
    repo_id: str | None,
    offline: bool,
    model_name: str | None,
    model_revision: str,
    tasks: tuple[str, ...],
    narrator_kind: str | None,
    narrator_model: str | None,
    out_dir: Path | None,
    overwrite: bool,
    split: str,
    unit_specs: tuple[str, ...],
    n_units: int | None,
    draws: int,
) -> None:
    """Submit predictions for re-scoring (PREDICTIONS... --model-name N --out BUNDLE), or entries (MODEL_DIR --repo R).

    Predictions mode bundles prediction files (the package's parquet or plain parquet / CSV) with the model's
    metadata into BUNDLE (bundle.json lists each file's task and sha256); the maintainer runs `leaderboard rescore`
    on it and the entries it writes are marked verified. Entries mode (one RESULTS_DIR/<model> folder) validates
    self-reported entries and opens a pull request with them on a Hub dataset repo.

    Examples: neurrator-bench leaderboard submit preds.parquet --model-name my-model --out bundle;
    neurrator-bench leaderboard submit results/my-model --repo org/neurrator-results
    """
    if all(p.is_file() for p in targets):
        from neurrator_bench.subsets import make_subset, parse_unit_filters

        try:
            subset = make_subset(parse_unit_filters(unit_specs), n_units, draws=draws)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        _submit_predictions(
            targets, model_name, model_revision, tasks, narrator_kind, narrator_model, out_dir, overwrite, split, subset
        )
        return
    if unit_specs or n_units is not None:
        raise click.UsageError("--units / --n-units describe prediction files (predictions mode)")
    if len(targets) != 1 or not targets[0].is_dir():
        raise click.UsageError("give prediction files, or one RESULTS_DIR/<model> folder")
    if repo_id is None:
        raise click.UsageError("entries mode (a model folder) needs --repo")
    model_dir = targets[0]
    from neurrator_bench.leaderboard.submit import submit_results

    try:
        outcome = submit_results(model_dir, repo_id, offline=offline)
    except (NeurratorError, FileExistsError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    if outcome.pr_url:
        click.echo(f"opened {outcome.pr_url}")
    else:
        click.echo(f"offline ({outcome.offline_reason}); bundle written to {outcome.bundle_dir}: see UPLOAD.md there")


def _submit_predictions(
    files, model_name, model_revision, tasks, narrator_kind, narrator_model, out_dir, overwrite, split, subset
):
    from neurrator_bench.leaderboard.rescore import make_bundle
    from neurrator_bench.schemas.result_entry import ModelMeta

    if model_name is None or out_dir is None:
        raise click.UsageError("predictions mode needs --model-name and --out BUNDLE")
    narrator = narrator_from_flags(narrator_kind, narrator_model)
    try:
        bundle = make_bundle(
            files,
            out_dir,
            model=ModelMeta(name=model_name, revision=model_revision),
            tasks=tasks,
            narrator=narrator,
            overwrite=overwrite,
            split=split,
            subset=subset,
        )
    except (NeurratorError, FileExistsError, ValueError) as exc:
        fail(exc)
    for item in bundle.files:
        click.echo(f"  {item.path}: task {item.task}, split {item.split}, sha256 {item.sha256[:12]}")
    click.echo(f"wrote {out_dir}: send it to the maintainer, who runs `neurrator-bench leaderboard rescore`")


@leaderboard.command("rescore")
@click.argument("bundle_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id the predictions were made on.")
@click.option("--out", "results_dir", type=click.Path(path_type=Path), required=True, help="Results folder.")
@references_option("scores final-split files.")
@click.option("--overwrite", is_flag=True, help="Replace entries the re-score would write that already exist.")
@scoring_flags
def leaderboard_rescore(
    bundle_dir: Path, dataset: str, results_dir: Path, references: Path | None, overwrite: bool, scoring
) -> None:
    """Score every file of a submission bundle with the package's scorer and write verified entries.

    Example: neurrator-bench leaderboard rescore bundle --dataset dataset --out results
    """
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.leaderboard.rescore import rescore_bundle

    try:
        ds = open_dataset(dataset)
        written = rescore_bundle(
            bundle_dir,
            ds,
            results_dir,
            options=scoring,
            references=_open_references(references, ds),
            overwrite=overwrite,
        )
    except (NeurratorError, KeyError, ValueError) as exc:
        fail(exc)
    for item in written:
        echo_entry(item.entry, item.path)


@click.command()
@click.argument("results_dir", required=False, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--task", default=None, help="Only this task (not with --paired).")
@click.option("--width", type=int, default=140, show_default=True)
@click.option(
    "--paired",
    nargs=2,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    metavar="A.json B.json",
    help="Compare two entry files frame by frame (paired block bootstrap) instead of a results folder.",
)
@click.option("--metric", "metrics", multiple=True, help="With --paired: only this metric (repeatable).")
@click.option("--n-boot", type=int, default=None, help="With --paired: bootstrap replicates (default 1000).")
@click.option("--seed", type=int, default=None, help="With --paired: base seed of the replicates (default 0).")
def compare(
    results_dir: Path | None,
    task: str | None,
    width: int,
    paired: tuple[Path, Path] | None,
    metrics: tuple[str, ...],
    n_boot: int | None,
    seed: int | None,
) -> None:
    """Reference model and baselines side by side with CIs, or two entries paired frame by frame.

    Without --paired: one column per model and narrator (latest revision) of RESULTS_DIR. With --paired
    A.json B.json: one row per metric of both frame tables: A, B, the mean per-frame difference with its
    95 % paired block-bootstrap interval, the two-sided p and the number of frames.

    Examples: neurrator-bench compare results --task nm1-contiguous-middle;
    neurrator-bench compare --paired results/a/main/nm1-contiguous-middle.json results/b/main/nm1-contiguous-middle.json
    """
    from neurrator_bench.leaderboard.compare import render_compare, render_paired

    if paired:
        if results_dir is not None or task is not None:
            raise click.UsageError("--paired compares two entry files: give no RESULTS_DIR and no --task with it")
        try:
            text = render_paired(
                *paired,
                metrics=list(metrics) or None,
                n_boot=1000 if n_boot is None else n_boot,
                seed=0 if seed is None else seed,
                width=width,
            )
        except (NeurratorError, KeyError, ValueError) as exc:
            fail(exc)
        click.echo(text)
        return
    if metrics or n_boot is not None or seed is not None:
        raise click.UsageError("--metric, --n-boot and --seed apply to --paired only")
    if results_dir is None:
        raise click.UsageError("give RESULTS_DIR, or --paired A.json B.json")
    try:
        click.echo(render_compare(results_dir, task=task, width=width))
    except (NeurratorError, KeyError, ValueError) as exc:
        fail(exc)
