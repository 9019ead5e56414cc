"""The dataset card: README.md with YAML ``configs`` (what ``load_dataset`` reads) and prose."""

from __future__ import annotations

import yaml

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
        "pretty_name": "neurrator-bench spike-to-text (Allen Brain Observatory Neuropixels BO1.1)",
        "license": "other",
        "license_name": "allen-institute-terms-of-use",
        "license_link": "https://alleninstitute.org/terms-of-use/",
        "tags": ["neuroscience", "neuropixels", "spike-trains", "allen-brain-observatory", "neural-decoding"],
        "configs": configs,
        "neurrator_bench": {
            "fingerprint": manifest.fingerprint,
            "schema_version": manifest.schema_version,
            "package_version": manifest.package_version,
            "pinned_revision": pinned_revision,
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
        "# neurrator-bench spike-to-text dataset",
        "",
        "Spike-count windows from Allen Brain Observatory Visual Coding Neuropixels sessions (Brain Observatory 1.1) "
        "paired with captions of the frame the mouse saw, with the holdout splits of the Neurrator paper "
        "(arXiv:2606.18667). Built by `neurrator-bench build`; it loads with plain `datasets`, no code of ours:",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{where}", "nm1-contiguous-middle"{rev})',
        'units = load_dataset("' + where + '", "units"' + rev + ', split="train")',
        "```",
        "",
        "## Samples",
        "",
        f"One row per stimulus presentation. `spikes` holds **raw spike counts**, shape `(n_units, {w.window_bins})`, "
        f"axis order **(unit, bin)**, uint8. Bin `j` counts the unit's spikes in the half-open interval "
        f"`[t_start + j * bin_s, t_start + (j + 1) * bin_s)` with `bin_s = {w.bin_s:.9g}` s "
        "(Allen's `presentationwise_spike_counts` uses closed bins where an edge spike counts twice; we do not). "
        f"Window alignment: **{w.alignment}** "
        + (
            "(the window starts at the presentation onset, `t_start = onset`)."
            if w.alignment == "causal"
            else f"(centred on the onset, `t_start = onset - {w.window_bins // 2} * bin_s`)."
        )
        + " Row `i` of `spikes` is the unit with `unit_index == i` of the same `session_id` in the `units` config "
        "(units ordered by probe, depth along the probe, unit id). `onset` and `t_start` are on the session clock "
        "in seconds (null for pseudo-mice, whose units come from several sessions). `sample_id` = "
        "`<session>/<stimulus>/r<repeat>/f<frame>` is unique and stable. `caption` is the caption of the frame.",
        "",
        "Units: Allen's default QC (quality == good, amplitude_cutoff <= 0.1, presence_ratio >= 0.95, "
        "isi_violations <= 0.5, peak channel valid and in the brain). Cell types: optotagged units of Cre sessions "
        "with reliability > 30 %, median first-spike latency < 8 ms and rate >= 2x baseline (paper A.3). "
        "Pseudo-mice `pseudo-PV`, `pseudo-SST`, `pseudo-VIP` (and `pseudo-tagged`, all tagged units) concatenate "
        "tagged units across sessions of one line, aligned by (stimulus, repeat, frame).",
        "",
        "Normalization: counts are never z-scored in the data. The `normalization` config gives, per task, session "
        "and unit, the mean and std (ddof 0) of the per-bin count over the **training** windows of that task only.",
        "",
        f"Targets (`targets` config): `{manifest.target_model}` (revision {manifest.target_revision}), "
        f"`patches` shape ({manifest.target_n_patches}, {manifest.target_dim}) float16 per frame and `pooled` = "
        "mean of the patch vectors. Captions: "
        f"`{manifest.captioner}` (revision {manifest.captioner_revision}).",
        "",
        "## Tasks and split rules",
        "",
    ]
    for name, version in sorted(manifest.task_versions.items()):
        spec = TASKS.get(name)
        lines += [f"### `{name}` (version {version}; paper {spec.paper_section})", "", spec.rule_text, ""]
    lines += ["## Sizes", "", "| config | split | rows |", "|---|---|---|"]
    for config, splits in manifest.split_sizes.items():
        for split, n in splits.items():
            lines.append(f"| {config} | {split} | {n} |")
    sizes = manifest.sizes
    if sizes.get("raw_binned_bytes"):
        ratio = sizes["data_bytes"] / sizes["raw_binned_bytes"]
        lines += [
            "",
            f"Storage: {sizes['data_bytes']:,} bytes of parquet for {sizes['raw_binned_bytes']:,} bytes of raw "
            f"binned counts (continuous uint8 counts at {w.bin_s:.9g} s over the presented natural stimuli): "
            f"ratio {ratio:.2f}. Estimated 16-session BO1.1 build: {sizes.get('estimate_16_sessions_bytes', 0):,} bytes.",
        ]
    lines += [
        "",
        "## Provenance",
        "",
        f"Sessions: {', '.join(manifest.sessions)}. Fingerprint (sha256 over every data file): `{manifest.fingerprint}`. "
        "Source NWB checksums are in the `sessions` config and `neurrator_manifest.json`.",
        "",
        "## Licence and citation",
        "",
        "Recordings: Allen Institute for Brain Science, Allen Brain Observatory Visual Coding Neuropixels, under the "
        "Allen Institute Terms of Use. Cite Siegle et al. 2021 and the Neurrator paper:",
        "",
        "```bibtex",
        CITATION,
        "```",
        "",
    ]
    return "\n".join(lines)
