"""The dataset card: README.md with YAML ``configs`` (what ``load_dataset`` reads) and prose."""

from __future__ import annotations

import yaml

from neurrator_bench.builders.frame_images import ASPECT_POLICY
from neurrator_bench.builders.optotagging import LineSummary
from neurrator_bench.provenance import is_real_origin
from neurrator_bench.schemas.dataset import DatasetManifest
from neurrator_bench.tasks import TASKS

CITATION = """\
@article{siegle2021survey,
  title={Survey of spiking in the mouse visual system reveals functional hierarchy},
  author={Siegle, Joshua H. and Jia, Xiaoxuan and Durand, S{\\'e}verine and others},
  journal={Nature}, volume={592}, pages={86--92}, year={2021}
}
@article{marinllobet2026neurrator,
  title={Can neurons speak? Semantic narration of vision at single-cell resolution},
  author={Marin-Llobet, Arnau and Hakim, Richard and Matias, Sara and Murthy, Venkatesh N. and Li, Na and Ba, Demba},
  journal={arXiv preprint arXiv:2606.18667}, year={2026}
}"""


def is_unverified(manifest: DatasetManifest) -> bool:
    """Whether any config of the build comes from sessions not verified as Allen recordings (simulated/unknown)."""
    return any(not is_real_origin(origin) for origin in manifest.data_origin.values())


def card_title(manifest: DatasetManifest) -> str:
    """The card's title; a build with simulated (or unverified) sessions says so first."""
    origins = set(manifest.data_origin.values())
    if any("simulated" in o for o in origins):
        return "SIMULATED neurrator-bench spike-to-text dataset (not Allen recordings)"
    if is_unverified(manifest):
        return "neurrator-bench spike-to-text dataset (ORIGIN NOT VERIFIED as Allen recordings)"
    return "neurrator-bench spike-to-text dataset (Allen Brain Observatory Neuropixels BO1.1)"


def card_yaml(manifest: DatasetManifest, pinned_revision: str | None) -> str:
    """YAML front matter: configs with per-split data files, licence, tags, fingerprint."""
    configs = []
    for name, files in manifest.configs.items():
        configs.append(
            {
                "config_name": name,
                "data_files": [{"split": split, "path": paths} for split, paths in files.splits.items()],
            }
        )
    meta = {
        "pretty_name": card_title(manifest),
        **(
            {"license": "mit", "tags": ["neuroscience", "spike-trains", "neural-decoding", "simulated-data"]}
            if is_unverified(manifest)
            else {
                "license": "other",
                "license_name": "allen-institute-terms-of-use",
                "license_link": "https://alleninstitute.org/terms-of-use/",
                "tags": ["neuroscience", "neuropixels", "spike-trains", "allen-brain-observatory", "neural-decoding"],
            }
        ),
        "configs": configs,
        "neurrator_bench": {
            "fingerprint": manifest.fingerprint,
            "schema_version": manifest.schema_version,
            "package_version": manifest.package_version,
            "pinned_revision": pinned_revision,
            "data_origin": dict(manifest.data_origin),
            "task_fingerprints": dict(manifest.task_fingerprints),
        },
    }
    return yaml.safe_dump(meta, sort_keys=False, width=1000)


def render_card(
    manifest: DatasetManifest,
    *,
    pinned_revision: str | None = None,
    repo_id: str | None = None,
) -> str:
    """Full README.md text.

    Args:
        manifest: The dataset manifest (its ``split_sizes`` fill the sizes table).
        pinned_revision: Hub commit users should pin (set after a push).
        repo_id: Hub repo id, when published.
    """
    w = manifest.window
    where = repo_id or "path/to/dataset"
    rev = f', revision="{pinned_revision}"' if pinned_revision else ""
    lines = ["---", card_yaml(manifest, pinned_revision).rstrip(), "---", ""]
    lines += [
        f"# {card_title(manifest)}",
        "",
        *_origin_lines(manifest),
        (
            "Spike-count windows from **simulated** sessions written by the neurrator-bench simulator in the Allen "
            "Brain Observatory NWB layout (no mouse was recorded for them), paired with captions of the simulated "
            "frame, with the holdout splits of the Neurrator paper (arXiv:2606.18667)"
            if is_unverified(manifest)
            else "Spike-count windows from Allen Brain Observatory Visual Coding Neuropixels sessions (Brain "
            "Observatory 1.1) paired with captions of the frame the mouse saw, with the holdout splits of the "
            "Neurrator paper (arXiv:2606.18667)"
        )
        + ". Built by `neurrator-bench build`; it loads with plain `datasets`, no code of ours:",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{where}", "nm1-contiguous-middle"{rev})',
        'units = load_dataset("' + where + '", "units"' + rev + ', split="train")',
        "```",
        "",
        "## Samples",
        "",
        "One row per 120 Hz bin, as the paper (A.2: its code cuts `X[c - 10 : c + 10]` around every bin `c` and pairs it "
        'with "the stimulus frame the bin\'s center is aligned to"; A.8: "7,186 NM1 test bins"). A **segment** is one '
        "movie repeat or one 250 ms natural-scene presentation; bin `k` of a segment is `[t0 + k * bin_s, t0 + (k + 1) * "
        f"bin_s)` with `bin_s = {w.bin_s:.9g}` s and `t0` the onset of the segment's first frame. Reference bins: every "
        f"**{w.stride}** bin(s) (stride {w.stride}; `b % {w.stride} == 0`). Window alignment: **{w.alignment}** "
        + (
            f"(bins `[b, b + {w.window_bins})`, the response after the reference bin)"
            if w.alignment == "causal"
            else f"(bins `[b - {w.window_bins // 2}, b + {w.window_bins - w.window_bins // 2})`, the paper's centred window)"
        )
        + ". Only windows that lie inside their segment are kept, so samples never mix two repeats or two scene "
        "presentations (our choice; the paper concatenates repeats): a centred 20-bin window drops the first 10 and "
        "last 9 bins of each segment. `frame` is the frame displayed at the reference bin's centre; `bin_index` is the "
        "reference bin within its segment; `onset` is the start of that frame's presentation. "
        f"`spikes` holds **raw spike counts**, shape `(n_units, {w.window_bins})`, axis order **(unit, bin)**, uint8; "
        "bin `j` counts the unit's spikes in the half-open interval `[t_start + j * bin_s, t_start + (j + 1) * bin_s)` "
        "(Allen's `presentationwise_spike_counts` uses closed bins where an edge spike counts twice; we do not). "
        "Row `i` of `spikes` is the unit with `unit_index == i` of the same `session_id` in the `units` config "
        "(units ordered by probe, depth along the probe, unit id). `onset` and `t_start` are on the session clock "
        "in seconds (null for pseudo-mice, whose units come from several sessions). `sample_id` = "
        "`<session>/<stimulus>/r<repeat>/f<frame>/b<bin>` is unique and stable. `caption` is the caption of the frame.",
        "",
        "Continuous counts (`recordings` config): one row per (session, stimulus, segment) with the 120 Hz grid the "
        "samples are cut from, stored sparse (`unit_index`, `bin`, `count` of every non-zero bin) with the frame shown "
        "at each bin (`frame_of_bin`), whether the bin is outside every applied invalid span (`valid`) and the running "
        "speed interpolated at each bin's centre (`running_speed`, cm/s), "
        "so windows can be re-cut, re-binned or paired with behaviour without the NWB files. Eye tracking is not "
        "included yet.",
        "",
        f"Dropped windows: windows overlapping an `invalid_times` span (rows labelled stimulus, all_probes, or a probe "
        f"with units in the session) are dropped; the guard band drops training and validation windows whose span, "
        f"extended back by {w.guard_s * 1e3:g} ms of response latency, overlaps the display of a held-out frame. "
        "Counts per session (pseudo-mice inherit the drops of their member sessions; `-`: not applicable):",
        "",
        *_dropped_lines(manifest),
        "",
        "Units: Allen's default QC (quality == good, amplitude_cutoff <= 0.1, presence_ratio >= 0.95, "
        "isi_violations <= 0.5, peak channel valid and in the brain). Cell types: optotagged units of Cre sessions "
        "with reliability > 30 %, median first-spike latency < 8 ms and rate >= 2x baseline (paper A.3), judged on "
        "the 10 ms `pulse` trials at each session's highest light level only (low-power pulses would dilute "
        "reliability), with the latency searched from 1 ms (after the light artifact); only units in visual cortex "
        "(structure `VIS*`) are tagged, as in Allen's optotagging analysis. Per line: "
        + (" ".join(LineSummary.from_dict(d).card_text() for d in manifest.optotagging) or "no Cre session.")
        + " "
        "Pseudo-mice `pseudo-PV`, `pseudo-SST`, `pseudo-VIP` (and `pseudo-tagged`, all tagged units) concatenate "
        "tagged units across sessions of one line, aligned by (stimulus, repeat, frame, k-th bin of that frame); "
        "bins without a partner in every member session are dropped and counted below (`unmatched:<stimulus>`).",
        "",
        "Normalization: counts are never z-scored in the data. The `normalization` config gives, per task, session "
        "and unit, the mean and std (ddof 0) of the per-bin count over the distinct 120 Hz bins covered by the "
        "**training** windows of that task, each bin once (`n_bins` of them) "
        "(paper A.2: z-scored with training statistics). Units with zero training variance have "
        "`zero_variance = true`; z-score them with scale 1 (`(count - mean) / 1`), never with a tiny epsilon.",
        "",
        f"Targets (`targets` config): `{manifest.target_model}` (revision {manifest.target_revision}), "
        f"`patches` shape ({manifest.target_n_patches}, {manifest.target_dim}) float16 per frame and `pooled` = "
        "mean of the patch vectors. Captions: "
        f"`{manifest.captioner}` (revision {manifest.captioner_revision}). Field of view: image models see every "
        "frame padded to a square with mid-gray (127), the same for the target model and the captioner, so both "
        f"describe the whole frame (our choice, `{ASPECT_POLICY}`: CLIP's own preprocessing would centre-crop a 2:1 "
        "movie frame and BLIP-2's would squash it; the paper does not state its crop).",
        "",
        *_embedded_lines(manifest),
        "## Tasks and split rules",
        "",
    ]
    for name, version in sorted(manifest.task_versions.items()):
        spec = TASKS.get(name)
        lines += [f"### `{name}` (version {version}; paper {spec.paper_section})", "", spec.rule_text, ""]
    lines += _sealed_lines(manifest)
    lines += ["## Sizes", "", "| config | split | rows |", "|---|---|---|"]
    for config, splits in manifest.split_sizes.items():
        for split, n in splits.items():
            lines.append(f"| {config} | {split} | {n} |")
    if manifest.test_sizes_by_session:
        lines += [
            "",
            'Test samples per session (the paper counts "7,186 NM1 test bins" for two concatenated test repeats; '
            "here each NM1 repeat of ~3,602 bins keeps every reference bin whose window lies inside it, "
            "2 x (3,602 - 19) = 7,166 at stride 1 with the centred 20-bin window):",
            "",
            "| task | session | test samples |",
            "|---|---|---|",
        ]
        for task, per in manifest.test_sizes_by_session.items():
            lines += [f"| {task} | {session} | {n} |" for session, n in per.items()]
    sizes = manifest.sizes
    if sizes.get("raw_binned_bytes"):
        ratio = sizes["data_bytes"] / sizes["raw_binned_bytes"]
        lines += [
            "",
            f"Storage: {sizes['data_bytes']:,} bytes of parquet for {sizes['raw_binned_bytes']:,} bytes of raw "
            f"binned counts (continuous uint8 counts at {w.bin_s:.9g} s over the presented natural stimuli): "
            f"ratio {ratio:.2f}. Estimated 16-session BO1.1 build (every per-session config scaled to 16 sessions, the "
            f"per-frame stimuli and targets once): {sizes.get('estimate_16_sessions_bytes', 0):,} bytes.",
        ]
    lines += [
        "",
        "## Provenance",
        "",
        f"Sessions: {', '.join(manifest.sessions)}. Fingerprint (sha256 over every data file): `{manifest.fingerprint}`. "
        "Source NWB checksums are in the `sessions` config and `neurrator_manifest.json` (`source_sha256`). Allen "
        "publishes no checksums for its cache files: files fetched with `build --download` / `--sessions` are "
        "verified against the sha256 recorded at their first complete download (the cache's `checksums.json`), "
        "i.e. trust on first use, unless the user supplies checksums.",
        "",
        "Task fingerprints (what models, prediction files and leaderboard entries of a task carry; each covers only "
        "that task's samples, sessions, normalization rows, stimuli and targets, so adding a task changes no other "
        "task's fingerprint):",
        "",
        *(f"- `{task}`: `{fp}`" for task, fp in sorted(manifest.task_fingerprints.items())),
        "",
        "## Licence and citation",
        "",
        *(
            [
                "Task configs: **simulated** sessions written by the neurrator-bench simulator in the Allen NWB layout "
                "(no animal was recorded; MIT, like the package). "
            ]
            if is_unverified(manifest)
            else []
        ),
        (
            "Real recordings (`real-*` configs and any config whose origin is `allen`): "
            if is_unverified(manifest)
            else "Recordings: "
        )
        + "Allen Institute for Brain Science, Allen Brain Observatory Visual Coding Neuropixels, under the "
        "Allen Institute Terms of Use. Cite Siegle et al. 2021 and the Neurrator paper:",
        "",
        "```bibtex",
        CITATION,
        "```",
        "",
    ]
    return "\n".join(lines)


def _origin_lines(manifest: DatasetManifest) -> list[str]:
    """The data-origin statement at the top of the card (one line per config)."""
    if not manifest.data_origin:
        return []
    lines = [
        "**Data origin** (per config; `allen` = real Allen NWB files, `simulated` = the package's simulator, "
        "`prebinned-extract` = a real pre-binned Allen extract):",
        "",
    ]
    lines += [f"- `{name}`: **{origin}**" for name, origin in sorted(manifest.data_origin.items())]
    if is_unverified(manifest):
        lines += [
            "",
            "**The task configs of this build are simulated.** Their numbers say how a model does on the simulator, "
            "not on mouse visual cortex.",
        ]
    return [*lines, ""]


def _sealed_lines(manifest: DatasetManifest) -> list[str]:
    """The live and final test (``build --seal-final``); nothing when the dataset has no final split."""
    sealed = manifest.sealed_final
    if sealed is None:
        return []
    counts = ", ".join(f"{len(f)} frames of `{s}`" for s, f in sealed.frames.items())
    shares = ", ".join(
        f"`{t}` {share:.1%}" + (f" ({sealed.task_clusters[t]} clusters)" if t in sealed.task_clusters else "")
        for t, share in sealed.task_fraction.items()
    )
    return [
        "## Live test and sealed final test",
        "",
        "Every task has two test splits. **`test`** is the live test: its captions and targets are in this dataset, "
        "and anyone can score on it with `neurrator-bench score`. **`final`** is the sealed final test: its spikes are "
        "here (the `final` split of each task), but its `caption` column is null, and the captions, frame images and "
        "targets of its frames were written only to a separate maintainer folder, never to this dataset or this card. "
        "A model predicts the final samples (`neurrator-bench narrate MODEL --split final`) and submits the file "
        "(`neurrator-bench leaderboard submit`); only the maintainer can score it (`leaderboard rescore --references`). "
        "Live and final scores are ranked in separate tables.",
        "",
        f"Sealed: {counts} (at least {sealed.fraction:g} of each task's test frames; seed {sealed.seed}; movie frames "
        f"in clusters of {sealed.block_frames}, scene images one by one). Share of each task's test frames that is "
        f"sealed: {shares}. In the public `stimuli` config the sealed frames have a null caption and image; in the "
        "`targets` config their `patches` and `pooled` are NaN (rows stay indexed by frame). Retrieval on the live "
        "test ranks among the public frames only (the paper's Table A2 ranks among every frame; on a sealed dataset "
        "the live gallery leaves the sealed ones out, our choice), on the final test among every frame. The final test's intervals "
        "resample its clusters: a task with few sealed clusters (a 200-frame block at 0.1 seals one or two) gets "
        "approximate intervals, and its entries say so; seal a larger fraction for a final test that ranks finely.",
        "",
        "Sealing is global (package's choice; the paper has no sealed test): a frame's caption is the same on every "
        "repeat, so a sealed frame is never trained on in any task. Every train or validation window whose span, "
        "extended back by the guard band's latency, overlaps the display of a sealed frame is dropped "
        "(`sealed:<task>` in the dropped-windows table). In a repeat-holdout task the final test is therefore a frame "
        "holdout (it measures generalization to unseen frames, its live test to unseen repeats of seen frames). "
        "Final entries are written only by the maintainer, from submitted predictions, and publish no per-frame "
        "values. The seal prevents inadvertent tuning on the test references, "
        "nothing more: the movie is public (Allen) and the captioner and target model are pinned, so the references "
        "can be rebuilt by anyone who builds this dataset without --seal-final, and the edge frames of a sealed "
        "block resemble their public neighbours.",
        "",
    ]


def _dropped_lines(manifest: DatasetManifest) -> list[str]:
    keys = sorted({k for counts in manifest.dropped.values() for k in counts})
    if not keys:
        return ["(none recorded)"]
    lines = ["| session | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for session, counts in sorted(manifest.dropped.items()):
        lines.append(f"| {session} | " + " | ".join(str(counts.get(k, "-")) for k in keys) + " |")
    return lines


def _embedded_lines(manifest: DatasetManifest) -> list[str]:
    """What the embedded target space and its narrator are, when the build uses them."""
    from neurrator_bench.builders.targets import EMBEDDED_TARGET_SPEC

    if manifest.target_model != EMBEDDED_TARGET_SPEC:
        return []
    return [
        "**Embedded target space (simulated world, not CLIP).** Each patch target is the unit-normalized, "
        "area-weighted sum of the MiniLM embeddings of the phrases the simulator painted in that patch (object "
        "pixels counted three times, top three phrases). Captions are the simulator's ground truth, one of ten "
        "wordings drawn per frame. For every task that holds out frames of a stimulus, every place, lighting and "
        "object shown in its held-out frames also appears in its training frames of that stimulus, in other "
        "combinations (checked by the simulator; the zero-shot cross-movie task is not covered: Natural Movie "
        "Three shows places and objects Natural Movie One never does). The default narrator for these targets "
        "is the package's **phrase narrator**, a stand-in for frozen LLaVA that is never trained on neural "
        "data: it decomposes each predicted patch into phrases of the world's fixed vocabulary and composes "
        "one sentence with a fixed grammar, so it can say what no training caption says. The retrieval narrator "
        "(nearest training caption) is a memorizing baseline. Numbers on this space say how a model does on the "
        "simulator, not on a mouse.",
        "",
    ]
