"""The ``neurrator-bench`` command line: a thin click layer over the Python API."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from neurrator_bench import __version__, cli_harness, cli_interrogate, cli_models
from neurrator_bench.cli_common import fail
from neurrator_bench.errors import NeurratorError


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
        fail(exc)
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
@click.option(
    "--sessions",
    "session_set",
    default=None,
    help="Download a named session set into --cache: paper-16 (the paper's 5 Pvalb + 6 Sst + 5 Vip BO1.1 "
    "sessions) or bo11-all (every BO1.1 session); `neurrator-bench sessions` lists them.",
)
@click.option(
    "--dandi",
    "dandiset",
    default=None,
    help="Stream the sessions (--session / --sessions) from this DANDI dandiset (000021: BO1.1) over HTTP range "
    "requests, without downloading the files; pass --stimuli for the templates.",
)
@click.option("--session", "dandi_ids", type=int, multiple=True, help="Session id to stream with --dandi (repeatable).")
@click.option("--dandi-api", default=None, help="DANDI API root (default: https://api.dandiarchive.org/api).")
@click.option("--dandi-version", default=None, help="Dandiset version for --dandi (default: draft).")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="Download folder (allensdk cache layout).")
@click.option(
    "--cache-url",
    default=None,
    help="Root of the cache tree to download from (default: Allen's public S3 ecephys-cache; a mirror works).",
)
@click.option(
    "--no-templates",
    is_flag=True,
    help="Download without the natural-movie / natural-scene templates (then pass --stimuli).",
)
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
    type=click.Choice(["centred", "causal"]),
    default="centred",
    show_default=True,
    help="centred (the paper's code): bins [b-10, b+10) around reference bin b; causal: bins [b, b+20).",
)
@click.option(
    "--stride",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Bins between samples (1: one sample per 120 Hz bin, as the paper; 4: about one per movie frame).",
)
@click.option(
    "--guard-ms",
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    help="Response latency of the guard band: train/validation windows within this of a held-out frame drop.",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Torch device of the CLIP target model and the BLIP-2 captioner (e.g. cuda; float16 there).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Frames per forward pass of the target model and the captioner (default: 16 CLIP, 8 BLIP-2).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Sessions built at once in a local process pool (the output is byte-identical for any value).",
)
@click.option(
    "--seal-final",
    type=click.FloatRange(min=0, max=0.5, min_open=True),
    default=None,
    help="Seal at least this fraction of each task's test frames (30-frame clusters) into a 'final' split whose "
    "captions and targets go only to the maintainer folder (--sealed-dir); its spikes stay public.",
)
@click.option("--seal-seed", type=int, default=None, help="Seed of the sealed-cluster draw (default 20261204).")
@click.option(
    "--sealed-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Maintainer folder of the sealed references (default: <out>.sealed, beside the dataset; never publish it).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset / discard an unfinished build.")
@click.option(
    "--push-to-hub", "repo_id", default=None, help="Publish to this Hugging Face dataset repo after building."
)
@click.option("--revision", default=None, help="Hub branch for --push-to-hub.")
@click.option(
    "--allow-simulated",
    is_flag=True,
    help="Allow --push-to-hub of a build from simulated sessions (its card title then says SIMULATED).",
)
def build(
    nwb,
    download_ids,
    session_set,
    dandiset,
    dandi_ids,
    dandi_api,
    dandi_version,
    cache,
    cache_url,
    no_templates,
    prebinned,
    out,
    stimuli_dir,
    target_model,
    captioner,
    tasks,
    bin_ms,
    window_bins,
    alignment,
    stride,
    guard_ms,
    device,
    batch_size,
    workers,
    seal_final,
    seal_seed,
    sealed_dir,
    overwrite,
    repo_id,
    revision,
    allow_simulated,
) -> None:
    """Build a Hugging Face spike-to-text dataset from Allen-layout NWB sessions.

    An interrupted build resumes when run again with the same options.

    Example: neurrator-bench build --nwb sim --out ds
    """
    from neurrator_bench.builders.allen_cache import ALLEN_S3_CACHE_URL, download_cache
    from neurrator_bench.builders.build import build_dataset
    from neurrator_bench.builders.session_sets import resolve_session_set
    from neurrator_bench.schemas.dataset import WindowSpec

    if (dandi_ids or dandi_api or dandi_version) and not dandiset:
        raise click.UsageError("--session / --dandi-api / --dandi-version only apply with --dandi DANDISET")
    if dandiset:
        if download_ids:
            raise click.UsageError("--dandi streams the sessions; it does not take --download")
        if not (dandi_ids or session_set):
            raise click.UsageError("--dandi needs the sessions to stream: --session ID (repeatable) or --sessions SET")
        if no_templates:
            raise click.UsageError(
                "--no-templates does not apply with --dandi: the session files are streamed, and with --cache DIR "
                "the tables and templates are all that is downloaded"
            )
        if stimuli_dir is not None and cache is not None:
            raise click.UsageError("--dandi: pass either --cache DIR (downloads the templates) or --stimuli DIR")
        if stimuli_dir is None and cache is None and not nwb:
            raise click.UsageError(
                "--dandi: the stimulus templates (for targets and captions) are not in the session files; pass "
                "either --cache DIR (downloads Allen's tables and templates there, no session file) or --stimuli "
                "DIR (an allensdk cache that has them)"
            )
        if cache_url and cache is None:
            raise click.UsageError("--cache-url only applies with --cache DIR")
    else:
        if (download_ids or session_set) and cache is None:
            raise click.UsageError("--download / --sessions need --cache DIR")
        if cache is not None and not (download_ids or session_set):
            raise click.UsageError("--cache only applies with --download, --sessions or --dandi")
        if (cache_url or no_templates) and not (download_ids or session_set):
            raise click.UsageError("--cache-url / --no-templates only apply with --download or --sessions")
    if revision and not repo_id:
        raise click.UsageError("--revision only applies with --push-to-hub")
    if (seal_seed is not None or sealed_dir is not None) and seal_final is None:
        raise click.UsageError("--seal-seed / --sealed-dir only apply with --seal-final FRACTION")
    if allow_simulated and not repo_id:
        raise click.UsageError("--allow-simulated only applies with --push-to-hub")
    start = time.perf_counter()
    try:
        inputs = list(nwb)
        if repo_id and not allow_simulated:
            _refuse_simulated_push(inputs, repo_id)
        remote = []
        wanted = list(dict.fromkeys([*download_ids, *(resolve_session_set(session_set) if session_set else [])]))
        if dandiset:
            from neurrator_bench.builders.dandi import DANDI_API_URL, dandi_sessions

            ids = list(dict.fromkeys([*dandi_ids, *wanted]))
            remote = dandi_sessions(ids, dandiset, version=dandi_version or "draft", api_url=dandi_api or DANDI_API_URL)
            if repo_id and not allow_simulated:
                _refuse_simulated_push(remote, repo_id)
            if cache is not None:  # the tables and templates only: the session files are streamed
                download_cache([], cache, base_url=cache_url or ALLEN_S3_CACHE_URL, progress=True)
                stimuli_dir = cache
        elif wanted:
            # the downloaded session files themselves: a shared cache may hold other sessions too
            inputs += download_cache(
                wanted, cache, base_url=cache_url or ALLEN_S3_CACHE_URL, templates=not no_templates, progress=True
            )
        result = build_dataset(
            inputs,
            out,
            stimuli_dir=stimuli_dir,
            prebinned=list(prebinned),
            window=WindowSpec(
                bin_s=bin_ms / 1000.0,
                window_bins=window_bins,
                alignment=alignment,
                stride=stride,
                guard_s=guard_ms / 1000.0,
            ),
            target_model=target_model,
            captioner=captioner,
            tasks=list(tasks) or None,
            overwrite=overwrite,
            progress=True,
            workers=workers,
            device=device,
            batch_size=batch_size,
            remote=remote,
            seal_final=seal_final,
            sealed_dir=sealed_dir,
            **({"seal_seed": seal_seed} if seal_seed is not None else {}),
        )
    except (NeurratorError, FileExistsError, FileNotFoundError, KeyError, ValueError) as exc:
        fail(exc)
    click.echo(f"built {result.path} in {time.perf_counter() - start:.1f} s; fingerprint {result.manifest.fingerprint}")
    for name, splits in result.manifest.split_sizes.items():
        click.echo(f"  {name}: " + ", ".join(f"{s}={n}" for s, n in splits.items()))
    if result.manifest.sealed_final is not None:
        sealed = result.manifest.sealed_final
        frames = ", ".join(f"{s} {len(f)}" for s, f in sealed.frames.items())
        for task, n in sealed.task_clusters.items():
            click.echo(f"  {task}: {sealed.task_fraction[task]:.1%} of the test frames sealed, {n} cluster(s)")
        click.echo(
            f"sealed final test: frames {frames}; references in {result.sealed_dir} "
            "(maintainers only: never publish it)"
        )
    if repo_id:
        from neurrator_bench.builders.hub import push_dataset_to_hub

        sha = push_dataset_to_hub(result.path, repo_id, revision=revision, allow_simulated=allow_simulated)
        click.echo(f"pushed to {repo_id}; pin revision {sha}")


def _refuse_simulated_push(inputs: list, repo_id: str) -> None:
    """Stop before building when --push-to-hub would publish simulated sessions without --allow-simulated.

    ``inputs``: local paths (files, folders, caches) or streamed `RemoteNWB` sessions.
    """
    from neurrator_bench.builders.origin import nwb_data_origin
    from neurrator_bench.builders.remote_nwb import RemoteNWB
    from neurrator_bench.builders.sources import resolve_nwb_inputs

    remote = [p for p in inputs if isinstance(p, RemoteNWB)]
    local = [p for p in inputs if not isinstance(p, RemoteNWB)]
    locations = [*(s.nwb_path for s in resolve_nwb_inputs(local)), *remote] if local else remote
    origins = {path: nwb_data_origin(path) for path in locations}
    simulated = [path for path, origin in origins.items() if origin == "simulated"]
    unknown = [path for path, origin in origins.items() if origin == "unknown"]
    if simulated:
        raise click.UsageError(
            f"--push-to-hub {repo_id}: {len(simulated)} input file(s) are simulated sessions written by the "
            f"neurrator-bench simulator (e.g. {simulated[0]}), not Allen recordings; publishing them could pass "
            "simulated data off as real. Pass --allow-simulated to publish anyway (the card title then says SIMULATED)."
        )
    if unknown:
        raise click.UsageError(
            f"--push-to-hub {repo_id}: {len(unknown)} input file(s) could not be verified as Allen recordings (their "
            f"session id is not in Allen's session table; e.g. {unknown[0]}). Pass --allow-simulated to publish anyway "
            "(the card title then says ORIGIN NOT VERIFIED)."
        )


@main.command("sessions")
@click.argument("name", required=False)
@click.option(
    "--table",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="A sessions.csv (default: Allen's session table shipped in the package).",
)
def list_sessions(name, table) -> None:
    """The named session sets (paper-16, bo11-all), or the sessions of one: id, genotype, units.

    Example: neurrator-bench sessions paper-16
    """
    from neurrator_bench.builders.session_sets import SESSION_SETS, read_session_table, resolve_session_set

    if name is None:
        for key, text in SESSION_SETS.items():
            click.echo(f"{key}: {text}")
        return
    try:
        frame = read_session_table(table)
        ids = resolve_session_set(name, frame)
    except (KeyError, ValueError) as exc:
        fail(exc)
    rows = frame.set_index("id").loc[ids]
    for sid, row in rows.iterrows():
        click.echo(f"{sid}\t{row['full_genotype']}\t{row.get('unit_count', '')}")
    click.echo(f"{len(ids)} sessions in {name}")


@main.command("tasks")
@click.option(
    "--dataset",
    default=None,
    help="A built dataset: also print each task's test samples per session and windows dropped by its guard band.",
)
def list_tasks(dataset) -> None:
    """List the registered tasks with their split rules (and, with --dataset, their sizes in that build)."""
    from neurrator_bench.tasks import TASKS

    manifest = None
    if dataset is not None:
        from neurrator_bench.dataset_access import open_dataset

        try:
            manifest = open_dataset(dataset).manifest
        except NeurratorError as exc:
            fail(exc)
    for name in TASKS.names():
        spec = TASKS.get(name)
        click.echo(f"{name} (v{spec.version}, paper {spec.paper_section})\n  {spec.rule_text}")
        if manifest is None or name not in manifest.task_versions:
            continue
        sizes = manifest.split_sizes.get(name, {})
        guard = sum(d.get(f"guard:{name}", 0) for d in manifest.dropped.values())
        per_session = ", ".join(f"{s}={n}" for s, n in manifest.test_sizes_by_session.get(name, {}).items())
        click.echo(
            f"  in {dataset}: "
            + ", ".join(f"{k}={v}" for k, v in sizes.items())
            + f"; train/validation windows dropped by the guard band: {guard}; test per session: {per_session}"
        )


main.add_command(cli_harness.score)
main.add_command(cli_harness.evaluate)
main.add_command(cli_harness.narrate_cmd)
main.add_command(cli_harness.scaling)
main.add_command(cli_harness.realdata)
main.add_command(cli_harness.regimes)
main.add_command(cli_models.train)
main.add_command(cli_models.baselines)
main.add_command(cli_models.demo)
main.add_command(cli_models.leaderboard)
main.add_command(cli_models.compare)
main.add_command(cli_interrogate.interrogate_cmd)
main.add_command(cli_interrogate.sae_group)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
