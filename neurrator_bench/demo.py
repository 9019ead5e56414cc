"""``neurrator-bench demo``: the whole benchmark offline on the embedded default.

simulate (mini preset) -> build the dataset -> the regime table on the hard regimes (contiguous-middle,
front-only, identity holdout: the reference model trained per regime, narrated by the phrase narrator and by
the retrieval narrator, beside the narrator's ceiling and floors and a hippocampus-only subset) -> the fast
baselines on the demo task -> a small subset-scaling sweep -> validate -> leaderboard site and markdown ->
compare table. Every stage's wall time is reported through ``echo``.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from neurrator_bench.schemas.dataset import WindowSpec
from neurrator_bench.scoring import ScoringOptions

DEMO_SCALING_REGIONS = ("V1|higher_visual", "hippocampus")
DEMO_SCALING_SIZES = (8, 32)
DEMO_TASK = "nm1-contiguous-middle"
DEMO_BASELINES = ("pca-knn", "floor-train-mean", "floor-random-caption")
"""Baselines the demo trains besides the regime table's ``ridge-patches`` (the fast ones; its pooled prediction
is the pooled ridge's, so ``ridge`` is not run twice); ``neurrator-bench baselines run`` trains all of them."""


@dataclass
class DemoResult:
    """Where the demo put things, and how long each stage took (seconds)."""

    out_dir: Path
    dataset: Path
    results: Path
    site_index: Path
    markdown: Path
    compare_text: str
    regime_text: str
    timings: dict[str, float] = field(default_factory=dict)


DEMO_STRIDE = 4
"""The demo samples every 4th 120 Hz bin (about one sample per movie frame) to finish within 10 minutes on 2
cores; ``neurrator-bench build`` defaults to stride 1 (every bin, as the paper). The split rules, windows and
guard band are the same at both strides; the card of the demo's dataset states its stride."""


def run_demo(
    out_dir: Path,
    *,
    seed: int = 0,
    task: str = DEMO_TASK,
    prebinned: Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    n_boot: int = 200,
    echo: Callable[[str], None] = lambda _msg: None,
) -> DemoResult:
    """Run every stage of the benchmark on freshly simulated sessions.

    Args:
        out_dir: Folder for the simulation, dataset, models, results and site.
        seed: Simulation, training and scoring seed.
        task: Task of the baselines, the scaling sweep and the compare table (its reference model is the
            regime table's, trained on this task; one of the hard regimes or any other task).
        prebinned: Optional real pre-binned recording (adds the real-data track).
        overwrite: Replace an existing ``out_dir``.
        progress: Progress bars.
        n_boot: Bootstrap resamples per confidence interval.
        echo: Receives one line per finished stage.

    Raises:
        FileExistsError: ``out_dir`` exists and ``overwrite`` is False.
    """
    from neurrator_bench.baselines.run import run_baselines
    from neurrator_bench.builders.build import build_dataset
    from neurrator_bench.builders.simulator import simulate
    from neurrator_bench.dataset_access import open_dataset
    from neurrator_bench.evaluation import scaling_curve, write_scaling_report
    from neurrator_bench.leaderboard.compare import render_compare
    from neurrator_bench.leaderboard.site import build_site
    from neurrator_bench.leaderboard.validate import raise_if_invalid, validate_results
    from neurrator_bench.reference_model.train_on_dataset import train_reference
    from neurrator_bench.regime_table import HARD_REGIMES, regime_table, render_regime_table
    from neurrator_bench.text_embedding import DEFAULT_SENTENCE_MODEL, SentenceEncoder

    out_dir = Path(out_dir)
    if out_dir.exists():
        if not overwrite:
            raise FileExistsError(f"{out_dir} already exists; pass overwrite=True (--overwrite) to replace it")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 1)
        clock = now
        echo(f"[demo] {name}: {timings[name]:.1f} s")

    sim = simulate(out_dir / "sim", "mini", seed=seed, progress=progress)
    stage("simulate 3 sessions")
    dataset = build_dataset(
        [sim.out_dir],
        out_dir / "dataset",
        prebinned=[prebinned] if prebinned else [],
        window=WindowSpec(stride=DEMO_STRIDE),
        progress=progress,
    ).path
    ds = open_dataset(dataset)
    stage("build dataset")
    options = ScoringOptions(seed=seed, n_boot=n_boot)
    encoder = SentenceEncoder(DEFAULT_SENTENCE_MODEL)
    results = out_dir / "results"
    models = out_dir / "models"
    regime_tasks = HARD_REGIMES if task in HARD_REGIMES else (*HARD_REGIMES, task)
    # the ridge-patches rows on the demo task only, to stay within 10 minutes on 2 cores (`neurrator-bench
    # regimes --dataset demo/dataset --models demo/models` adds them for every regime, reusing these models)
    regimes = regime_table(
        ds,
        models,
        tasks=regime_tasks,
        baseline_tasks=(task,),
        seed=seed,
        options=options,
        encoder=encoder,
        results_dir=results,
    )
    regime_text = render_regime_table(regimes)
    (out_dir / "regimes.md").write_text(regime_text, encoding="utf-8")
    stage(f"regime table ({len(regime_tasks)} regimes)")
    reference = models / f"neurrator-reference-{task}"
    if not (reference / "config.json").is_file():
        train_reference(ds, task, reference, seed=seed, progress=progress)
    run_baselines(
        ds,
        task,
        results,
        models_dir=models,
        names=DEMO_BASELINES,
        seed=seed,
        # the cell-type probe's permutation test costs minutes per baseline; the demo reports its accuracy only
        options=dataclasses.replace(options, celltype_permutations=0),
        encoder=encoder,
        progress=progress,
    )
    stage("train + evaluate baselines")
    table = scaling_curve(
        reference,
        ds,
        task,
        regions=DEMO_SCALING_REGIONS,
        sizes=DEMO_SCALING_SIZES,
        draws=1,
        seed=seed,
        results_dir=results,
        options=ScoringOptions(seed=seed, n_boot=100, celltype_permutations=0),
    )
    write_scaling_report(table, out_dir / "scaling")
    stage("subset scaling sweep")
    if prebinned is not None:
        from neurrator_bench.realdata_track import run_realdata_track, write_realdata_report

        write_realdata_report(run_realdata_track(ds, seed=seed), out_dir / "realdata")
        stage("real-data track")
    raise_if_invalid(results, validate_results(results))
    index = build_site(results, out_dir / "site")
    stage("validate + leaderboard site")
    return DemoResult(
        out_dir=out_dir,
        dataset=dataset,
        results=results,
        site_index=index,
        markdown=index.parent / "leaderboard.md",
        compare_text=render_compare(results, task=task),
        regime_text=regime_text,
        timings=timings,
    )
