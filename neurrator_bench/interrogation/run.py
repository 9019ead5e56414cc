"""``interrogate``: what each population sees, through one trained model (paper Sec. 5, A.7, A.8).

One model, one narrator and one SAE serve every population. Per population the test split is predicted and
narrated once (:func:`.populations.read_population`); the predicted patches go through the SAE chunk by chunk and
only their per-bin feature activations are kept. Then, on the bins every population covers:

1. narration level: cross-population SBERT similarity (Fig. 5) with a shuffled floor (our addition: the mean
   cosine of one population's narration of a bin to another's narration of a random other bin, over 20
   permutations), distinctive words by weighted log-odds (:mod:`.log_odds`), the population classifier with a
   permutation p (``scorers.celltype_probe``; Sec. 5: "a simple 3-way classifier trained on the narration
   embeddings can identify the source cell-type with 76% accuracy (chance 33%, p<10^{-4})"; our choices: 32
   label-free principal components, folds grouped by frame, a frame-block interval), concept-axis curves over the
   movie with paired population differences (:mod:`.concept_axes`);
2. the SAE dictionary: top-20, unique-by-magnitude, each feature's top frames from a corpus disjoint from the
   test frames (every frame of the dataset's stimuli that no test bin of the task shows) (:mod:`.dictionary`);
3. bootstrap stability over test bins (A.8);
4. feature concept loadings with one-vs-rest Welch tests (A.8), in the target space when it is the sentence space
   (the embedded default); skipped with the reason otherwise;
5. optionally a shuffled-label control (the same analyses on populations of the same sizes drawn at random from
   the pooled tagged units) and, on a simulated dataset, the planted ground truth (:mod:`.planted`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from neurrator_bench.builders.targets import EMBEDDED_TARGET_SPEC
from neurrator_bench.dataset_access import DatasetHandle, split_frames
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.evaluation import checked_model
from neurrator_bench.inference import DEFAULT_NARRATOR, make_narrator
from neurrator_bench.interrogation import concept_axes as ca
from neurrator_bench.interrogation import planted
from neurrator_bench.interrogation.dictionary import Dictionary, Stability, bootstrap_stability, build_dictionary
from neurrator_bench.interrogation.dictionary import top_frames as feature_top_frames
from neurrator_bench.interrogation.log_odds import distinctive_words
from neurrator_bench.interrogation.populations import (
    Aligned,
    PopulationSpec,
    Readout,
    align,
    parse_population,
    read_population,
    shuffled_populations,
)
from neurrator_bench.interrogation.sae import SparseAutoencoder, frames_outside, load_sae, stimulus_names
from neurrator_bench.scorers.celltype_probe import celltype_classifier
from neurrator_bench.scorers.frame_stats import cluster_bootstrap, make_clusters
from neurrator_bench.scorers.intervals import enclose
from neurrator_bench.scorers.similarity_matrix import cross_narration_similarity
from neurrator_bench.tasks import NM1, NM3
from neurrator_bench.text_embedding import DEFAULT_SENTENCE_MODEL, SentenceEncoder

logger = logging.getLogger(__name__)
DEFAULT_POPULATIONS = ("pseudo-PV", "pseudo-SST", "pseudo-VIP")
N_TOP_FRAMES = 8
SIMILARITY_PERMUTATIONS = 20


@dataclass
class InterrogationOptions:
    """Knobs of an interrogation (all recorded in the report).

    Attributes:
        narrator: Narrator kind (``auto``: the phrase narrator for patch models).
        n_boot: Bootstrap resamples (stability and intervals; the paper's 200).
        n_permutations: Label permutations of the classifier (1000 reaches p < 1e-3).
        top_k: Features kept per population (the paper's 20).
        smooth_frames: Width of the concept curves' moving average, in positions among the test frames present
            (on a sparse split, neighbouring positions can be several movie frames apart).
        concepts: Concept-axis prompts (the paper's six by default).
        shuffled_control: Also run the shuffled-label control.
        control_pool / control_by: Session whose units are dealt at random, and the labels whose sizes are kept.
        null_deals: Random deals of the control pool for the planted-truth null (only with a simulation; 19 gives
            p down to 0.05).
        classifier_components: Principal components of the narration embeddings the classifier reads (our
            choice: label-free, so the permutation test stays exact, and 1000 permutations stay fast).
        seed: Every seed.
    """

    narrator: str = DEFAULT_NARRATOR
    n_boot: int = 200
    n_permutations: int = 1000
    top_k: int = 20
    smooth_frames: int = 9
    concepts: tuple[str, ...] = ca.DEFAULT_CONCEPTS
    shuffled_control: bool = True
    control_pool: str = "pseudo-tagged"
    control_by: str = "cell_type"
    null_deals: int = 19
    classifier_components: int = 32
    seed: int = 0


@dataclass
class Analysis:
    """Every figure of one set of populations (the main one, or the shuffled control)."""

    names: tuple[str, ...]
    aligned: Aligned
    units: dict[str, dict[str, int]]
    similarity: np.ndarray
    similarity_floor: float
    similarity_floor_matrix: np.ndarray
    words: dict[str, list[tuple[str, float]]]
    classifier: dict[str, Any]
    concept_means: dict[str, dict[str, dict[str, float]]]
    concept_differences: list[dict[str, Any]]
    curves: dict[str, dict[str, dict[str, list[float]]]]
    dictionary: Dictionary
    stability: Stability
    feature_frames: dict[int, np.ndarray]
    loadings: list[dict[str, Any]] | None
    loadings_skipped: str | None
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)
    planted: dict[str, Any] | None = None


@dataclass
class Corpus:
    """The labelling corpus: frames no test bin of the task shows, their SAE activations and pooled targets."""

    stimulus: np.ndarray
    frame: np.ndarray
    captions: np.ndarray
    activations: np.ndarray
    pooled: np.ndarray


def labelling_corpus(ds: DatasetHandle, task: str, sae: SparseAutoencoder) -> Corpus:
    """Every frame of the dataset's stimuli outside the task's test frames, with its SAE mean activation."""
    stims, frames, caps, acts, pooled = [], [], [], [], []
    for stimulus, t, keep in frames_outside(ds, stimulus_names(ds), split_frames(ds, task, "test")):
        stims += [stimulus] * keep.size
        frames.append(keep)
        caps.append(t.captions[keep])
        acts.append(sae.mean_activation(t.patches[keep]))
        pooled.append(t.pooled[keep])
    return Corpus(
        stimulus=np.array(stims, dtype=object),
        frame=np.concatenate(frames),
        captions=np.concatenate(caps),
        activations=np.concatenate(acts),
        pooled=np.concatenate(pooled),
    )


@dataclass
class Context:
    """What every analysis of one interrogation shares."""

    corpus: Corpus
    concept_emb: np.ndarray
    bank_emb: np.ndarray | None
    opts: InterrogationOptions
    truth: pd.DataFrame | None = None
    planted_emb: np.ndarray | None = None


def _clusters(aligned: Aligned):
    return make_clusters(
        aligned.stimulus, aligned.frame, np.zeros(aligned.keys.size, dtype=int), movie_stimuli=(NM1, NM3)
    )


def analyse(readouts: Sequence[Readout], embeddings: dict[str, np.ndarray], ctx: Context) -> Analysis:
    """Every analysis of one set of populations (module docstring, steps 1-4, and 5 when ``ctx.truth`` is set)."""
    corpus, opts = ctx.corpus, ctx.opts
    aligned = align(readouts)
    names = tuple(r.spec.name for r in readouts)
    keep = aligned.keep
    per_bin_emb = {n: aligned.per_bin_mean(n, embeddings[n][keep[n]]) for n in names}
    _, sim = cross_narration_similarity(per_bin_emb)
    # shuffled floor: population a's narration of bin i against b's narration of a random other bin, averaged
    # over SIMILARITY_PERMUTATIONS permutations, per pair (floor_matrix) and over the pairs (floor)
    rng = np.random.default_rng(opts.seed)
    units = {n: ca._unit(per_bin_emb[n]) for n in names}
    floor_matrix = np.zeros((len(names), len(names)))
    for _ in range(SIMILARITY_PERMUTATIONS):
        perm = rng.permutation(aligned.keys.size)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                floor_matrix[i, j] += np.mean(np.sum(units[a] * units[b][perm], axis=1)) / SIMILARITY_PERMUTATIONS
    floor_matrix = (floor_matrix + floor_matrix.T) / 2
    floor = float(floor_matrix[~np.eye(len(names), dtype=bool)].mean())

    narr = {n: r.narration[keep[n]] for n, r in zip(names, readouts, strict=True)}
    dw = distinctive_words(narr)
    words = {n: dw.top(n, 10) for n in names}

    # label-free PCA (fit on every row, no label seen) so that 1000 permutations take about a minute on 2 cores
    x = np.concatenate([embeddings[n][keep[n]] for n in names])
    x = PCA(min(opts.classifier_components, *x.shape), random_state=opts.seed).fit_transform(x)
    labels = np.concatenate([[n] * int(keep[n].sum()) for n in names])
    bins = np.concatenate([aligned.rows[n] for n in names])
    # folds group rows by frame (stimulus, frame): a frame shown in several repeats never sits on both sides
    frame_key = np.array([f"{st}/{fr}" for st, fr in zip(aligned.stimulus, aligned.frame, strict=True)])[bins]
    with threadpool_limits(1):
        res = celltype_classifier(x, labels, groups=frame_key, n_permutations=opts.n_permutations, seed=opts.seed)
    # the interval resamples frame blocks of the per-bin correctness weighted by rows per bin, so that its point
    # estimate is the pooled per-row accuracy the classifier reports
    clusters = _clusters(aligned)
    rows_per_bin = np.bincount(bins, minlength=aligned.keys.size).astype(float)
    per_bin_correct = np.bincount(bins, weights=res.correct, minlength=aligned.keys.size) / rows_per_bin
    ci = cluster_bootstrap(per_bin_correct, clusters, base_weights=rows_per_bin, n_boot=opts.n_boot, seed=opts.seed)
    low, high = enclose(res.accuracy, ci.low, ci.high)
    classifier = {
        "accuracy": res.accuracy,
        "ci_low": low,
        "ci_high": high,
        "chance": res.chance,
        "p_value": res.p_value,
        "n_permutations": res.n_permutations,
        "classes": list(res.classes),
        "confusion": res.confusion.tolist(),
        "n": int(labels.size),
        "folds": "grouped by frame (stimulus, frame)",
    }

    def interval(values: np.ndarray) -> dict[str, float]:
        c = cluster_bootstrap(values, clusters, base_weights=np.ones(values.size), n_boot=opts.n_boot, seed=opts.seed)
        v = float(values.mean())
        lo, hi = enclose(v, c.low, c.high)
        return {"value": v, "ci_low": lo, "ci_high": hi}

    scores = {n: ca.concept_scores(per_bin_emb[n], ctx.concept_emb) for n in names}  # (K, c)
    movie = aligned.stimulus == (NM1 if np.any(aligned.stimulus == NM1) else aligned.stimulus[0])
    concept_means: dict[str, dict[str, dict[str, float]]] = {}
    curves: dict[str, dict[str, dict[str, list[float]]]] = {}
    differences = []
    for j, concept in enumerate(opts.concepts):
        concept_means[concept], curves[concept] = {}, {}
        for n in names:
            m = interval(scores[n][:, j])
            concept_means[concept][n] = {"mean": m["value"], "ci_low": m["ci_low"], "ci_high": m["ci_high"]}
            f, raw, smooth = ca.movie_curve(scores[n][movie, j], aligned.frame[movie], opts.smooth_frames)
            curves[concept][n] = {"frame": f.tolist(), "raw": raw.tolist(), "smoothed": smooth.tolist()}
            rest = np.mean([scores[o][:, j] for o in names if o != n], axis=0)
            differences.append(
                {"concept": concept, "population": n, "minus": "mean of the others", **interval(scores[n][:, j] - rest)}
            )

    acts = {n: aligned.per_bin_mean(n, r.features[keep[n]]) for n, r in zip(names, readouts, strict=True)}
    dictionary = build_dictionary(acts, opts.top_k)
    stability = bootstrap_stability(acts, dictionary, n_boot=opts.n_boot, seed=opts.seed)
    wanted = sorted({int(f) for p in range(len(names)) for f in dictionary.top[p]})
    frames = feature_top_frames(corpus.activations, np.array(wanted, dtype=np.int64), N_TOP_FRAMES)
    feature_frames = dict(zip(wanted, frames, strict=True))

    loadings, skipped = None, None
    if ctx.bank_emb is None:
        skipped = "the target space is not the sentence space (a CLIP target space needs a CLIP text tower)"
    else:
        top10 = {
            n: np.stack([feature_frames[int(f)][:5] for f in dictionary.most_specific(p, 10)])
            for p, n in enumerate(names)
        }
        loads = ca.feature_concept_loadings(corpus.pooled, top10, ctx.bank_emb)
        loadings = ca.one_vs_rest_welch(loads, ca.CONCEPT_BANK)
    planted_result = (
        None
        if ctx.truth is None
        else planted_figures(aligned, names, per_bin_emb, dictionary=dictionary, feature_frames=feature_frames, ctx=ctx)
    )
    return Analysis(
        planted=planted_result,
        names=names,
        aligned=aligned,
        units={r.spec.name: r.units for r in readouts},
        similarity=sim,
        similarity_floor=floor,
        similarity_floor_matrix=floor_matrix,
        words=words,
        classifier=classifier,
        concept_means=concept_means,
        concept_differences=differences,
        curves=curves,
        dictionary=dictionary,
        stability=stability,
        feature_frames=feature_frames,
        loadings=loadings,
        loadings_skipped=skipped,
        skipped={r.spec.name: r.skipped for r in readouts if r.skipped},
    )


@dataclass(frozen=True)
class PlantedInputs:
    """What the ground-truth checks read on aligned bins.

    Attributes:
        bins: (K,) rows of the truth table (``rounded``, ``vehicle``, ``dark``) of each bin's frame.
        blocks: (K,) frame block of each bin (the blocks every other interval resamples).
        scores: population -> (K, n_concepts) narration score on each planted concept's axis.
    """

    bins: pd.DataFrame
    blocks: np.ndarray
    scores: dict[str, np.ndarray]

    @classmethod
    def of(cls, aligned: Aligned, names: tuple[str, ...], per_bin_emb: dict[str, np.ndarray], ctx: Context):
        """Read the truth of the aligned bins' frames and score each population's narrations on the axes."""
        t = ctx.truth.set_index(["stimulus", "frame"])
        clusters = _clusters(aligned)
        return cls(
            bins=t.loc[list(zip(aligned.stimulus, aligned.frame, strict=True))],
            blocks=clusters.frame_block[clusters.frame],
            scores={n: ca.concept_scores(per_bin_emb[n], ctx.planted_emb) for n in names},
        )


def planted_contrasts(inp: PlantedInputs, *, n_boot: int, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Tracking contrasts on the aligned bins: concept -> population -> :func:`.planted.tracking_contrast`."""
    return {
        c: planted.tracking_contrast(
            {n: s[:, j] for n, s in inp.scores.items()}, inp.bins[c].to_numpy(), inp.blocks, n_boot=n_boot, seed=seed
        )
        for j, c in enumerate(planted.CONCEPTS)
    }


def random_deal_null(main: Analysis, ctx: Context, read_deal: Callable[[int], tuple[list[Readout], dict]]) -> dict:
    """How often a random deal of the pooled units gives its "planted" group a contrast as large as the real one.

    For each of ``opts.null_deals`` deals (seeds ``seed + 1 ...``), the groups' tracking contrasts are computed
    as for the real populations; per concept the null is the contrast of the group carrying the planted cell
    type's label, and ``p = (1 + #{null >= real}) / (1 + n_deals)``, the real value being that of the real
    population of the planted cell type. The shuffled-label control asks whether one random deal finds nothing;
    this asks how rare the real populations' contrasts are among random deals.
    """
    real = main.planted["tracking_contrast"]
    out: dict[str, Any] = {"n_deals": ctx.opts.null_deals}
    nulls: dict[str, list[float]] = {c: [] for c in planted.CONCEPTS}
    for d in range(ctx.opts.null_deals):
        readouts, emb = read_deal(ctx.opts.seed + 1 + d)
        aligned = align(readouts)
        names = tuple(r.spec.name for r in readouts)
        per_bin = {n: aligned.per_bin_mean(n, emb[n][aligned.keep[n]]) for n in names}
        contrasts = planted_contrasts(PlantedInputs.of(aligned, names, per_bin, ctx), n_boot=1, seed=ctx.opts.seed)
        for cell_type, concept in planted.PLANTED.items():
            group = planted.population_of(names, cell_type)
            if group is not None:
                nulls[concept].append(contrasts[concept][group]["value"])
    for cell_type, concept in planted.PLANTED.items():
        own = planted.population_of(main.names, cell_type)
        null = np.array(nulls[concept], dtype=float)
        value = float(real[own][concept]["value"]) if own is not None else float("nan")
        p = float((1 + np.sum(null >= value)) / (1 + null.size)) if own is not None and null.size else None
        out[concept] = {"population": own, "real": value, "null": null.tolist(), "p": p}
    return out


def planted_figures(
    aligned: Aligned,
    names: tuple[str, ...],
    per_bin_emb: dict[str, np.ndarray],
    *,
    dictionary: Dictionary,
    feature_frames: dict[int, np.ndarray],
    ctx: Context,
) -> dict[str, Any]:
    """Ground-truth checks on a simulated dataset (:mod:`.planted`), for every population and planted concept.

    - ``tracking``: how much more the population's narrations score on the concept's axis on bins whose frame
      shows the concept than on bins whose frame does not;
    - ``tracking_contrast``: that tracking minus the mean tracking of the other populations, paired by bin (the
      planted ordering: SST's is highest on vehicles, VIP's on darkness, PV's on rounded objects);
    - ``enrichment``: share of its unique-by-magnitude features' top corpus frames that show the concept, minus
      the corpus base rate (the paper's measure, read against the planted truth).
    """
    corpus, opts = ctx.corpus, ctx.opts
    frames = ctx.truth.set_index(["stimulus", "frame"]).loc[list(zip(corpus.stimulus, corpus.frame, strict=True))]
    out: dict[str, Any] = {"concepts": list(planted.CONCEPTS), "tracking": {}, "enrichment": {}}
    inp = PlantedInputs.of(aligned, names, per_bin_emb, ctx)
    contrasts = planted_contrasts(inp, n_boot=opts.n_boot, seed=opts.seed)
    out["tracking_contrast"] = {n: {c: contrasts[c][n] for c in planted.CONCEPTS} for n in names}
    out["verdict"] = planted.verdict(names, contrasts)
    for p, name in enumerate(names):
        out["tracking"][name] = {
            c: planted.tracking(
                inp.scores[name][:, j], inp.bins[c].to_numpy(), inp.blocks, n_boot=opts.n_boot, seed=opts.seed
            )
            for j, c in enumerate(planted.CONCEPTS)
        }
        feats = dictionary.unique[p]
        out["enrichment"][name] = {}
        for c in planted.CONCEPTS:
            has = frames[c].to_numpy()
            hits = (
                np.array([has[feature_frames[int(f)]] for f in feats], dtype=bool).reshape(len(feats), -1)
                if len(feats)
                else np.zeros((0, 1), bool)
            )
            out["enrichment"][name][c] = planted.enrichment(hits, float(has.mean()), n_boot=opts.n_boot, seed=opts.seed)
    return out


@dataclass
class Interrogation:
    """The result of :func:`interrogate`: the main analysis, the control, the corpus and provenance."""

    main: Analysis
    control: Analysis | None
    corpus: Corpus
    provenance: dict[str, Any]


def interrogate(
    model_dir: Path,
    ds: DatasetHandle,
    task: str,
    populations: Sequence[str] = DEFAULT_POPULATIONS,
    *,
    sae_dir: Path,
    options: InterrogationOptions | None = None,
    encoder: SentenceEncoder | None = None,
    simulation_dir: Path | None = None,
    echo: Callable[[str], None] = lambda _m: None,
) -> Interrogation:
    """Narrate and predict once per population with one model, then run every analysis (module docstring).

    Raises:
        ModelDirectoryError: A model of another task or dataset, a model predicting no patches, or an SAE of
            another dimension.
        ValueError: Unknown population, fewer than two, or populations sharing no test bin.
    """
    opts = options or InterrogationOptions()
    specs = [parse_population(p, ds) for p in populations]
    if len({s.name for s in specs}) < 2:
        raise ValueError(f"populations: expected at least two distinct ones, found {[s.name for s in specs]}")
    model = checked_model(model_dir, ds, task)
    sae = load_sae(sae_dir, target_dim=ds.manifest.target_dim)
    inputs = sae.config.inputs or {}
    if inputs.get("dataset_fingerprint") == ds.fingerprint and inputs.get("excluded_task") != task:
        raise ModelDirectoryError(
            f"{sae_dir}/sae.json: inputs.excluded_task is {inputs.get('excluded_task')!r}, so this SAE was trained on "
            f"the true patches of {task}'s test frames; train it with `neurrator-bench sae train --exclude-task {task}`"
        )
    narrator = make_narrator(opts.narrator, ds, task)
    encoder = encoder or SentenceEncoder(DEFAULT_SENTENCE_MODEL)

    def read(spec_list: list[PopulationSpec], *, sae_features: bool = True) -> tuple[list[Readout], dict]:
        """Readouts and narration embeddings of populations (the null's deals need narrations only)."""
        out, emb = [], {}
        for spec in spec_list:
            reduce = sae.mean_activation if sae_features else None
            r = read_population(model, ds, task, spec, narrator=narrator, reduce_patches=reduce)
            out.append(r)
            emb[spec.name] = encoder.encode(list(r.narration))
            if sae_features:
                echo(f"[interrogate] {spec.name}: {len(r.narration)} bins, units {r.units}")
        return out, emb

    corpus = labelling_corpus(ds, task, sae)
    concept_emb = encoder.encode(list(opts.concepts))
    bank_emb = encoder.encode(list(ca.CONCEPT_BANK)) if ds.manifest.target_model == EMBEDDED_TARGET_SPEC else None
    truth = None
    if simulation_dir is not None:
        if ds.data_origin(task) != "simulated":
            raise ValueError(f"simulation_dir given, but task {task} of {ds.repo} is {ds.data_origin(task)!r} data")
        truth = planted.frame_concepts(Path(simulation_dir), sorted(set(corpus.stimulus)))
    ctx = Context(
        corpus=corpus,
        concept_emb=concept_emb,
        bank_emb=bank_emb,
        opts=opts,
        truth=truth,
        planted_emb=None if truth is None else encoder.encode([planted.AXIS_OF_CONCEPT[c] for c in planted.CONCEPTS]),
    )
    readouts, emb = read(specs)
    main = analyse(readouts, emb, ctx)
    control = None
    if opts.shuffled_control:
        shuffled = shuffled_populations(ds, opts.control_pool, opts.control_by, opts.seed)
        c_readouts, c_emb = read(shuffled)
        control = analyse(c_readouts, c_emb, ctx)
    if truth is not None and opts.null_deals > 0:

        def read_deal(seed: int) -> tuple[list[Readout], dict[str, np.ndarray]]:
            return read(shuffled_populations(ds, opts.control_pool, opts.control_by, seed), sae_features=False)

        main.planted["null"] = random_deal_null(main, ctx, read_deal)
        echo(f"[interrogate] planted null over {opts.null_deals} random deals of {opts.control_pool}")
    provenance = {
        "model_dir": str(model_dir),
        "model": {k: model.config.get(k) for k in ("name", "revision", "model_kind", "task")},
        "dataset": str(ds.repo),
        "dataset_fingerprint": ds.fingerprint,
        "task_fingerprint": ds.task_fingerprint(task),
        "data_origin": ds.data_origin(task),
        "task": task,
        "narrator": getattr(narrator, "provenance", {}),
        "sentence_model": DEFAULT_SENTENCE_MODEL,
        "sae_dir": str(sae_dir),
        "sae": asdict(sae.config),
        "options": {**opts.__dict__, "concepts": list(opts.concepts)},
        "corpus": {
            "frames": int(corpus.frame.size),
            "rule": "every frame of the dataset's stimuli that no test bin of the task shows",
        },
    }
    return Interrogation(main=main, control=control, corpus=corpus, provenance=provenance)
