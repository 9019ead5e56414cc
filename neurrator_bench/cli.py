"""The ``neurrator-bench`` command line: a thin click layer over the Python API."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from neurrator_bench import __version__
from neurrator_bench.errors import NeurratorError


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="neurrator-bench")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """Spike-to-language decoding benchmark on Allen Brain Observatory Neuropixels (BO1.1)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Folder to create.")
@click.option(
    "--preset",
    type=click.Choice(["mini", "full"]),
    default="mini",
    show_default=True,
    help="mini: BO1.1 stimulus structure, few units (CI-sized); full: BO1.1 sizes.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Simulation seed.")
@click.option("--sessions", "n_sessions", type=int, default=None, help="Number of sessions (preset default if unset).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder.")
def simulate(out: Path, preset: str, seed: int, n_sessions: int | None, overwrite: bool) -> None:
    """Write simulated sessions in the Allen NWB layout plus their stimulus bundle.

    Example: neurrator-bench simulate --out sim --preset mini --seed 0
    """
    from neurrator_bench.builders.simulator import simulate as run_simulation

    start = time.perf_counter()
    try:
        result = run_simulation(out, preset, seed=seed, n_sessions=n_sessions, overwrite=overwrite, progress=True)
    except (NeurratorError, FileExistsError, ValueError) as exc:
        _fail(exc)
    click.echo(
        f"wrote {len(result.nwb_paths)} session(s) and stimuli to {result.out_dir} "
        f"in {time.perf_counter() - start:.1f} s"
    )


@main.command()
@click.option(
    "--nwb",
    "nwb",
    type=click.Path(path_type=Path, exists=True),
    multiple=True,
    help="NWB file, folder or allensdk EcephysProjectCache folder (repeatable).",
)
@click.option(
    "--download",
    "download_ids",
    type=int,
    multiple=True,
    help="BO1.1 session id to download from the public Allen archive into --cache (repeatable).",
)
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Download folder (allensdk cache layout).")
@click.option(
    "--prebinned",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    multiple=True,
    help="Pre-binned recording (.mat: act, units_ind, unit_regs) -> a real-* config (repeatable).",
)
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Dataset folder to create.")
@click.option(
    "--stimuli",
    "stimuli_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Stimulus frames: simulator bundle or allensdk cache (default: found beside --nwb).",
)
@click.option(
    "--target-model",
    default="embedded-minilm-patches",
    show_default=True,
    help="Target space: embedded-minilm-patches, or a CLIP id/path (e.g. openai/clip-vit-large-patch14-336).",
)
@click.option(
    "--captioner",
    default="ground-truth",
    show_default=True,
    help="ground-truth (simulated stimuli) or a BLIP-2 id/path (e.g. Salesforce/blip2-opt-2.7b).",
)
@click.option("--task", "tasks", multiple=True, help="Task to build (repeatable; default: all).")
@click.option("--bin-ms", type=float, default=1000.0 / 120.0, show_default=True, help="Bin width in ms (120 Hz).")
@click.option("--window-bins", type=int, default=20, show_default=True, help="Bins per window.")
@click.option(
    "--alignment",
    type=click.Choice(["causal", "centred"]),
    default="causal",
    show_default=True,
    help="causal: window starts at the presentation onset; centred: window centred on it.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset / discard an unfinished build.")
@click.option(
    "--push-to-hub", "repo_id", default=None, help="Publish to this Hugging Face dataset repo after building."
)
@click.option("--revision", default=None, help="Hub branch for --push-to-hub.")
def build(
    nwb,
    download_ids,
    cache,
    prebinned,
    out,
    stimuli_dir,
    target_model,
    captioner,
    tasks,
    bin_ms,
    window_bins,
    alignment,
    overwrite,
    repo_id,
    revision,
) -> None:
    """Build a Hugging Face spike-to-text dataset from Allen-layout NWB sessions.

    An interrupted build resumes when run again with the same options.

    Example: neurrator-bench build --nwb sim --out ds
    """
    from neurrator_bench.builders.build import build_dataset
    from neurrator_bench.builders.download import download_sessions
    from neurrator_bench.schemas.dataset import WindowSpec

    if download_ids and cache is None:
        raise click.UsageError("--download needs --cache DIR")
    if revision and not repo_id:
        raise click.UsageError("--revision only applies with --push-to-hub")
    start = time.perf_counter()
    try:
        inputs = list(nwb)
        if download_ids:
            download_sessions(list(download_ids), cache, progress=True)
            inputs.append(cache)
        result = build_dataset(
            inputs,
            out,
            stimuli_dir=stimuli_dir,
            prebinned=list(prebinned),
            window=WindowSpec(bin_s=bin_ms / 1000.0, window_bins=window_bins, alignment=alignment),
            target_model=target_model,
            captioner=captioner,
            tasks=list(tasks) or None,
            overwrite=overwrite,
            progress=True,
        )
    except (NeurratorError, FileExistsError, FileNotFoundError, KeyError, ValueError) as exc:
        _fail(exc)
    click.echo(f"built {result.path} in {time.perf_counter() - start:.1f} s; fingerprint {result.manifest.fingerprint}")
    for name, splits in result.manifest.split_sizes.items():
        click.echo(f"  {name}: " + ", ".join(f"{s}={n}" for s, n in splits.items()))
    if repo_id:
        from neurrator_bench.builders.hub import push_dataset_to_hub

        sha = push_dataset_to_hub(result.path, repo_id, revision=revision)
        click.echo(f"pushed to {repo_id}; pin revision {sha}")


def _scoring_options(seed: int, n_boot: int, exclusion_frames: int, permutations: int):
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


def _echo_entry(entry, path) -> None:
    for m in entry.metrics:
        ci = f" [{m.ci_low:.4g}, {m.ci_high:.4g}]" if m.ci_low is not None else ""
        p = f" p={m.p_value:.3g}" if m.p_value is not None else ""
        click.echo(f"  {m.name:28s} {m.value:.4g}{ci}{p} (n={m.n})")
    for s in entry.skipped:
        click.echo(f"  skipped {s.name}: {s.reason}")
    if path is not None:
        click.echo(f"wrote {path}")


@main.command()
@click.argument("predictions", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--revision", default=None, help="Hub revision of --dataset.")
@click.option("--task", required=True, help="Task name (see `neurrator-bench tasks`).")
@click.option("--out", "results_dir", type=click.Path(path_type=Path), default=None, help="Results folder.")
@click.option("--model-name", default=None, help="Model name for the entry (default: the file's stem).")
@click.option("--model-revision", default="main", show_default=True, help="Model revision for the entry.")
@scoring_flags
def score(
    predictions,
    dataset,
    revision,
    task,
    results_dir,
    model_name,
    model_revision,
    seed,
    n_boot,
    exclusion_frames,
    permutations,
) -> None:
    """Score a predictions parquet (sample_id + embedding and/or narration); runs no model code.

    Example: neurrator-bench score preds.parquet --dataset ds --task nm1-contiguous-middle --out results
    """
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.schemas.predictions import read_predictions
    from neurrator_bench.schemas.result_entry import ModelMeta, write_entry
    from neurrator_bench.scoring import score_predictions

    try:
        ds = open_dataset(dataset, revision=revision)
        entry = score_predictions(
            read_predictions(predictions),
            ds,
            task,
            model=ModelMeta(name=model_name or predictions.stem, revision=model_revision),
            options=_scoring_options(seed, n_boot, exclusion_frames, permutations),
        )
        path = write_entry(results_dir, entry) if results_dir is not None else None
    except (NeurratorError, KeyError, ValueError) as exc:
        _fail(exc)
    _echo_entry(entry, path)


def _subset_flags(func):
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


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--task", required=True, help="Task name.")
@click.option("--out", "results_dir", type=click.Path(path_type=Path), default=None, help="Results folder.")
@click.option("--narrator", type=click.Choice(["retrieval", "llava"]), default="retrieval", show_default=True)
@click.option("--llava", default=None, help="LLaVA id or path for --narrator llava.")
@click.option("--predictions-out", type=click.Path(path_type=Path), default=None, help="Keep the predictions file.")
@_subset_flags
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
    seed,
    n_boot,
    exclusion_frames,
    permutations,
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
            seed=seed,
            options=_scoring_options(seed, n_boot, exclusion_frames, permutations),
            predictions_out=predictions_out,
        )
    except (NeurratorError, KeyError, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    _echo_entry(entry, entry_path(results_dir, entry) if results_dir is not None else None)


@main.command("narrate")
@click.argument("model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--dataset", required=True, help="Dataset folder or Hub dataset repo id.")
@click.option("--task", required=True, help="Task name.")
@click.option("--narrator", type=click.Choice(["retrieval", "llava"]), default="retrieval", show_default=True)
@click.option("--llava", default=None, help="LLaVA id or path (default llava-hf/llava-1.5-7b-hf).")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Predictions parquet to write.",
)
@_subset_flags
def narrate_cmd(model_dir, dataset, task, narrator, llava, out_file, unit_specs, n_units, draws) -> None:
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
        )
    except (NeurratorError, KeyError, ValueError) as exc:
        _fail(exc)
    for session, reason in skipped.items():
        click.echo(f"skipped session {session}: {reason}")
    click.echo(f"wrote {path}")


@main.command()
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
@scoring_flags
def scaling(
    model_dir, dataset, task, regions, sizes, draws, out_dir, results_dir, seed, n_boot, exclusion_frames, permutations
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
            seed=seed,
            results_dir=results_dir,
            options=_scoring_options(seed, n_boot, exclusion_frames, permutations),
        )
        paths = write_scaling_report(table, out_dir)
    except (NeurratorError, KeyError, ValueError) as exc:
        _fail(exc)
    click.echo(table.to_string(index=False))
    click.echo(f"wrote {paths['csv']} and {paths['png']}")


@main.command()
@click.option("--dataset", required=True, help="Dataset folder with a real-* config.")
@click.option("--config", default="real-nm1-791319847", show_default=True, help="Pre-binned real config.")
@click.option("--region", "regions", multiple=True, default=("V1", "higher_visual", "hippocampus"), show_default=True)
@click.option("--size", "sizes", type=int, multiple=True, default=(5, 10, 20, 30, 50), show_default=True)
@click.option("--draws", type=int, default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--metric", type=click.Choice(["euclidean", "correlation"]), default="euclidean", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def realdata(dataset, config, regions, sizes, draws, seed, metric, out_dir) -> None:
    """Real-data track: template-matching movie-second identification by region and population size.

    Example: neurrator-bench realdata --dataset ds --out realdata
    """
    from neurrator_bench.realdata_track import run_realdata_track, write_realdata_report

    try:
        table = run_realdata_track(
            dataset,
            config=config,
            regions=tuple(regions),
            sizes=tuple(sizes),
            draws=draws,
            seed=seed,
            metric=metric,
            progress=True,
        )
        paths = write_realdata_report(table, out_dir)
    except (NeurratorError, KeyError, ValueError) as exc:
        _fail(exc)
    cols = ["region", "n_units", "accuracy_mean", "ci_low", "ci_high", "chance", "skipped"]
    click.echo(table[cols].to_string(index=False))
    click.echo("wrote " + ", ".join(str(p) for p in paths.values()))


@main.command()
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
        _fail(exc)
    click.echo(f"wrote {path} in {time.perf_counter() - start:.1f} s")


@main.group()
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
def baselines_run(dataset, task, results_dir, models_dir, names, seed, n_boot, exclusion_frames, permutations) -> None:
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
            seed=seed,
            progress=True,
            options=_scoring_options(seed, n_boot, exclusion_frames, permutations),
        )
    except (NeurratorError, KeyError, ValueError) as exc:
        _fail(exc)
    for name, entry in entries.items():
        click.echo(f"{name}:")
        _echo_entry(entry, None)


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for everything.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--task", default="nm1-sparse-random", show_default=True, help="Task the models are trained on.")
@click.option(
    "--prebinned",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Also run the real-data track on this pre-binned recording (.mat).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
def demo(out_dir, seed, task, prebinned, overwrite) -> None:
    """The whole benchmark offline on the embedded default: simulate, build, train, evaluate, leaderboard.

    Example: neurrator-bench demo --out demo
    """
    from neurrator_bench.demo import run_demo

    start = time.perf_counter()
    try:
        result = run_demo(
            out_dir, seed=seed, task=task, prebinned=prebinned, overwrite=overwrite, progress=True, echo=click.echo
        )
    except (NeurratorError, FileExistsError, KeyError, ValueError) as exc:
        _fail(exc)
    click.echo(result.compare_text)
    click.echo(
        f"site: {result.site_index}\nmarkdown: {result.markdown}\ndemo wall time: {time.perf_counter() - start:.1f} s"
    )


@main.group()
def leaderboard() -> None:
    """Validate result entries, build the static site, submit results."""


@leaderboard.command("validate")
@click.argument("results_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
def leaderboard_validate(results_dir: Path) -> None:
    """Check every entry (schema, ranges, NaN, duplicates, fingerprints, dropped metrics); non-zero exit if any fail.

    Example: neurrator-bench leaderboard validate results
    """
    from neurrator_bench.leaderboard.validate import validate_results

    problems = validate_results(results_dir)
    for p in problems:
        click.echo(str(p), err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {results_dir}")
    click.echo(f"{results_dir}: all entries valid")


@leaderboard.command("build")
@click.argument("results_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Site folder.")
@click.option("--title", default="neurrator-bench leaderboard", show_default=True)
def leaderboard_build(results_dir: Path, out_dir: Path, title: str) -> None:
    """Render the static site (index.html, per-model pages, plots, leaderboard.md); opens from disk.

    Example: neurrator-bench leaderboard build results --out site
    """
    from neurrator_bench.leaderboard.site import build_site

    try:
        index = build_site(results_dir, out_dir, title=title)
    except (NeurratorError, FileExistsError) as exc:
        _fail(exc)
    click.echo(f"wrote {index}")


@leaderboard.command("submit")
@click.argument("model_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--repo", "repo_id", required=True, help="Hugging Face dataset repo of results.")
@click.option("--offline", is_flag=True, help="Only write the submission bundle and say what to upload.")
def leaderboard_submit(model_dir: Path, repo_id: str, offline: bool) -> None:
    """Validate RESULTS_DIR/<model> and open a pull request with its entries on a Hub dataset repo.

    Example: neurrator-bench leaderboard submit results/my-model --repo org/neurrator-results
    """
    from neurrator_bench.leaderboard.submit import submit_results

    try:
        outcome = submit_results(model_dir, repo_id, offline=offline)
    except (NeurratorError, FileExistsError, FileNotFoundError, ValueError) as exc:
        _fail(exc)
    if outcome.pr_url:
        click.echo(f"opened {outcome.pr_url}")
    else:
        click.echo(f"offline ({outcome.offline_reason}); bundle written to {outcome.bundle_dir}: see UPLOAD.md there")


@main.command()
@click.argument("results_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--task", default=None, help="Only this task.")
@click.option("--width", type=int, default=140, show_default=True)
def compare(results_dir: Path, task: str | None, width: int) -> None:
    """Reference model and baselines side by side with CIs.

    Example: neurrator-bench compare results --task nm1-contiguous-middle
    """
    from neurrator_bench.leaderboard.compare import render_compare

    try:
        click.echo(render_compare(results_dir, task=task, width=width))
    except (NeurratorError, KeyError, ValueError) as exc:
        _fail(exc)


@main.command("tasks")
def list_tasks() -> None:
    """List the registered tasks with their split rules."""
    from neurrator_bench.tasks import TASKS

    for name in TASKS.names():
        spec = TASKS.get(name)
        click.echo(f"{name} (v{spec.version}, paper {spec.paper_section})\n  {spec.rule_text}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
