"""The interrogation report: ``report.json`` (every figure), PNG figures and ``index.html`` (all text escaped)."""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from neurrator_bench.atomic_files import write_text_atomic
from neurrator_bench.dataset_access import DatasetHandle, read_table
from neurrator_bench.interrogation.run import Analysis, Interrogation

N_SHOWN_FEATURES = 3
N_SHOWN_FRAMES = 5


def _clean(x: Any) -> Any:
    """JSON-safe: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


def analysis_dict(a: Analysis, inter: Interrogation) -> dict[str, Any]:
    """Every figure of one analysis, JSON-able."""
    d = a.dictionary
    corpus = inter.corpus

    def frames_of(f: int) -> list[dict[str, Any]]:
        return [
            {"stimulus": str(corpus.stimulus[i]), "frame": int(corpus.frame[i]), "caption": str(corpus.captions[i])}
            for i in a.feature_frames.get(int(f), [])
        ]

    return {
        "populations": list(a.names),
        "units": a.units,
        "n_bins": int(a.aligned.keys.size),
        "similarity": {
            "matrix": a.similarity,
            "shuffled_floor": a.similarity_floor,
            "shuffled_floor_matrix": a.similarity_floor_matrix,
        },
        "skipped_sessions": a.skipped,
        "distinctive_words": {n: [{"word": w, "z": z} for w, z in ws] for n, ws in a.words.items()},
        "classifier": a.classifier,
        "concept_means": a.concept_means,
        "concept_differences": a.concept_differences,
        "concept_curves": a.curves,
        "dictionary": {
            n: {
                "top": [
                    {"feature": int(f), "mean": float(d.means[p, f]), "specificity": float(d.specificity[p, f])}
                    for f in d.top[p]
                ],
                "unique": [
                    {
                        "feature": int(f),
                        "mean": float(d.means[p, f]),
                        "specificity": float(d.specificity[p, f]),
                        "zscored": [float(v) for v in d.zscored[:, f]],
                        "top_frames": frames_of(int(f)),
                    }
                    for f in d.unique[p]
                ],
            }
            for p, n in enumerate(a.names)
        },
        "stability": {
            "n_boot": a.stability.n_boot,
            "summary": a.stability.summary(),
            "overlap": {n: a.stability.overlap[p] for p, n in enumerate(a.names)},
            "survival": {
                n: [
                    {"feature": int(f), "survival": float(s)}
                    for f, s in zip(a.stability.order[p], a.stability.survival[p], strict=True)
                ]
                for p, n in enumerate(a.names)
            },
        },
        "feature_concepts": a.loadings,
        "feature_concepts_skipped": a.loadings_skipped,
        "planted": a.planted,
    }


def _mpl_text(text: str) -> str:
    """Text matplotlib draws literally (``$`` would start math mode)."""
    return str(text).replace("$", r"\$")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _figures(inter: Interrogation, thumbs: dict[tuple[str, int], np.ndarray]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    analyses = [a for a in (inter.main, inter.control) if a is not None]
    fig, axes = plt.subplots(1, len(analyses), figsize=(4.2 * len(analyses), 3.6), squeeze=False)
    for ax, a in zip(axes[0], analyses, strict=True):
        im = ax.imshow(a.similarity, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(a.names)), a.names, rotation=45, ha="right")
        ax.set_yticks(range(len(a.names)), a.names)
        for i in range(len(a.names)):
            for j in range(len(a.names)):
                ax.text(j, i, f"{a.similarity[i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
        ax.set_title(f"SBERT similarity (shuffled floor {a.similarity_floor:.2f})", fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    out["similarity.png"] = _png(fig)
    plt.close(fig)

    a = inter.main
    concepts = list(a.curves)
    cols = 2
    rows = math.ceil(len(concepts) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), squeeze=False)
    for ax, concept in zip(axes.ravel(), concepts, strict=False):
        for n in a.names:
            c = a.curves[concept][n]
            (line,) = ax.plot(c["frame"], c["smoothed"], label=n, lw=1.6)
            ax.scatter(c["frame"], c["raw"], s=4, color=line.get_color(), alpha=0.35)
        ax.set_title(f"cosine to \u201c{_mpl_text(concept)}\u201d", fontsize=9)
        ax.set_xlabel("frame")
    for ax in axes.ravel()[len(concepts) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    out["concept_axes.png"] = _png(fig)
    plt.close(fig)

    d = a.dictionary
    feats = [int(f) for u in d.unique for f in u[:5]]
    if feats:
        fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(feats) + 2), 2.6))
        im = ax.imshow(d.zscored[:, feats], cmap="RdBu_r", vmin=-1.5, vmax=1.5, aspect="auto")
        ax.set_yticks(range(len(a.names)), a.names)
        ax.set_xticks(range(len(feats)), [str(f) for f in feats], rotation=90, fontsize=7)
        ax.set_title("unique-by-magnitude features: mean activation z-scored across populations", fontsize=9)
        fig.colorbar(im, ax=ax)
        out["dictionary.png"] = _png(fig)
        plt.close(fig)

    s = a.stability
    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    k = s.order.shape[1]
    for p, n in enumerate(a.names):
        axes[0].hist(s.overlap[p], bins=np.arange(-0.5, k + 1.5), alpha=0.5, label=n)
        axes[1].plot(np.arange(1, k + 1), s.survival[p], marker="o", ms=3, label=n)
    axes[0].set_xlabel(f"canonical top-{k} features recovered (of {k})")
    axes[0].set_title(f"{s.n_boot} bootstrap resamples of the test bins", fontsize=9)
    axes[1].set_xlabel("canonical specificity rank")
    axes[1].set_ylabel("survival rate")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    out["stability.png"] = _png(fig)
    plt.close(fig)

    shown = [(n, int(f)) for p, n in enumerate(a.names) for f in d.unique[p][:N_SHOWN_FEATURES]]
    if shown and thumbs:
        fig, axes = plt.subplots(
            len(shown), N_SHOWN_FRAMES, figsize=(2 * N_SHOWN_FRAMES, 2.1 * len(shown)), squeeze=False
        )
        for r, (n, f) in enumerate(shown):
            for c, i in enumerate(a.feature_frames[f][:N_SHOWN_FRAMES]):
                ax = axes[r, c]
                img = thumbs.get((str(inter.corpus.stimulus[i]), int(inter.corpus.frame[i])))
                if img is not None:
                    ax.imshow(img, cmap="gray")
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(f"{n}\nfeature {f}", fontsize=8)
        fig.suptitle("top-activating corpus frames of each population's most specific unique features", fontsize=9)
        fig.tight_layout()
        out["features.png"] = _png(fig)
        plt.close(fig)
    return out


def _thumbnails(ds: DatasetHandle, inter: Interrogation) -> dict[tuple[str, int], np.ndarray]:
    from PIL import Image

    a = inter.main
    wanted = {
        (str(inter.corpus.stimulus[i]), int(inter.corpus.frame[i]))
        for p in range(len(a.names))
        for f in a.dictionary.unique[p][:N_SHOWN_FEATURES]
        for i in a.feature_frames[int(f)][:N_SHOWN_FRAMES]
    }
    if not wanted:
        return {}
    table = read_table(ds, "stimuli", columns=["stimulus", "frame", "image"]).to_pylist()
    out = {}
    for row in table:
        key = (str(row["stimulus"]), int(row["frame"]))
        if key in wanted and row["image"] and row["image"].get("bytes"):
            out[key] = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("L"))
    return out


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "n/a" if not math.isfinite(x) else f"{x:.3f}"
    return str(x)


def _section(a: dict[str, Any], title: str) -> str:
    parts = [f"<h2>{html.escape(title)}</h2>"]
    parts.append(
        _table(
            ["population", "units per session", "sessions skipped"],
            [[n, a["units"][n], a.get("skipped_sessions", {}).get(n, {}) or "-"] for n in a["populations"]],
        )
    )
    c = a["classifier"]
    parts.append(
        f"<p>Population classifier from narration embeddings: accuracy {c['accuracy']:.3f} "
        f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}], chance {c['chance']:.3f}, permutation p "
        f"{_fmt(c['p_value'])} ({c['n_permutations']} permutations), {c['n']} narrations over {a['n_bins']} bins.</p>"
    )
    parts.append(
        "<h3>Distinctive words (weighted log-odds z)</h3>"
        + _table(
            ["population", "words"],
            [[n, ", ".join(f"{w['word']} ({w['z']:.1f})" for w in ws)] for n, ws in a["distinctive_words"].items()],
        )
    )
    parts.append(
        "<h3>Concept axes: population minus the mean of the others (frame-block interval)</h3>"
        + _table(
            ["concept", "population", "difference", "low", "high"],
            [[r["concept"], r["population"], r["value"], r["ci_low"], r["ci_high"]] for r in a["concept_differences"]],
        )
    )
    rows = []
    for n, entry in a["dictionary"].items():
        for u in entry["unique"][:5]:
            caps = " | ".join(fr["caption"] for fr in u["top_frames"][:3])
            rows.append([n, u["feature"], u["mean"], u["specificity"], caps])
    parts.append(
        "<h3>Unique-by-magnitude SAE features (most specific first)</h3>"
        + _table(["population", "feature", "mean activation", "specificity", "top frames' captions"], rows)
    )
    st = a["stability"]["summary"]
    parts.append(
        f"<h3>Bootstrap stability ({a['stability']['n_boot']} resamples)</h3>"
        + _table(
            ["population", "mean overlap", "min overlap", "top-k in every resample", "unique in every resample"],
            [
                [
                    n,
                    v["mean_overlap"],
                    v["min_overlap"],
                    v["top_k_in_every_resample"],
                    f"{v['unique_in_every_resample']} of {v['n_unique']}",
                ]
                for n, v in st.items()
            ],
        )
    )
    if a["feature_concepts"]:
        sig = [r for r in a["feature_concepts"] if r["q"] < 0.05 and r["mean"] > r["mean_rest"]]
        parts.append(
            "<h3>Feature concept loadings, one-vs-rest Welch, Benjamini-Hochberg q &lt; 0.05</h3>"
            + _table(
                ["population", "concept", "mean", "others", "t", "p", "q"],
                [[r["population"], r["concept"], r["mean"], r["mean_rest"], r["t"], r["p"], r["q"]] for r in sig],
            )
        )
    elif a["feature_concepts_skipped"]:
        parts.append(f"<p>Feature concept loadings skipped: {html.escape(a['feature_concepts_skipped'])}</p>")
    if a["planted"]:
        pl = a["planted"]
        rows = []
        for n in a["populations"]:
            for cpt in pl["concepts"]:
                t, e = pl["tracking"][n][cpt], pl["enrichment"][n][cpt]
                k = pl["tracking_contrast"][n][cpt]
                rows.append(
                    [
                        n,
                        cpt,
                        t["value"],
                        t["low"],
                        t["high"],
                        k["value"],
                        k["low"],
                        k["high"],
                        e["gain"],
                        e["low"],
                        e["high"],
                    ]
                )
        headers = [
            "population",
            "concept",
            "tracking",
            "low",
            "high",
            "minus others",
            "low",
            "high",
            "unique-feature enrichment",
            "low",
            "high",
        ]
        verdicts = [
            [c, v["planted_in"], v["highest"], "yes" if v["recovered"] else "no"] for c, v in pl["verdict"].items()
        ]
        null = pl.get("null") or {}
        null_rows = [
            [c, r["population"], r["real"], float(np.mean(r["null"])) if r["null"] else float("nan"), r["p"]]
            for c, r in null.items()
            if isinstance(r, dict)
        ]
        parts.append(
            "<h3>Simulator ground truth (planted: PV small rounded objects, SST vehicles, VIP darkness)</h3>"
            + _table(["concept", "planted in", "follows it most", "recovered"], verdicts)
            + (
                _table(
                    ["concept", "population", "contrast", f"mean of {null.get('n_deals')} random deals", "p"], null_rows
                )
                if null_rows
                else ""
            )
            + _table(headers, rows)
        )
    return "\n".join(parts)


def write_report(inter: Interrogation, ds: DatasetHandle, out_dir: Path) -> dict[str, Path]:
    """Write ``report.json``, the PNG figures and ``index.html`` into ``out_dir``; returns name -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "provenance": inter.provenance,
        "main": analysis_dict(inter.main, inter),
        "shuffled_control": None if inter.control is None else analysis_dict(inter.control, inter),
    }
    data = _clean(data)
    paths = {
        "report.json": write_text_atomic(out_dir / "report.json", json.dumps(data, indent=1, sort_keys=True) + "\n")
    }
    for name, png in _figures(inter, _thumbnails(ds, inter)).items():
        (out_dir / name).write_bytes(png)
        paths[name] = out_dir / name
    png_names = [n for n in paths if n.endswith(".png")]
    paths["index.html"] = write_text_atomic(out_dir / "index.html", render_page(data, png_names))
    return paths


REPORT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
"""The report page runs no script at all."""
FIGURE_NAMES = ("similarity.png", "concept_axes.png", "dictionary.png", "stability.png", "features.png")


def render_page(data: dict[str, Any], png_names: list[str]) -> str:
    """``index.html`` of a report from its ``report.json`` data (every string escaped; no script)."""
    prov = data["provenance"]
    origin = prov.get("data_origin", "unknown")
    imgs = "".join(
        f'<figure><img src="{html.escape(n)}" alt="{html.escape(n)}"></figure>' for n in png_names if n in FIGURE_NAMES
    )
    body = [
        f"<h1>What each population sees: {html.escape(', '.join(data['main']['populations']))}</h1>",
        "<p class='origin'>Data origin: <b>"
        + html.escape(str(origin))
        + "</b>. "
        + html.escape(
            f"Model {prov['model'].get('name')} ({prov['model'].get('model_kind')}), task {prov['task']}, dataset "
            f"{prov['dataset']} ({prov['dataset_fingerprint'][:12]}), SAE {prov['sae_dir']} "
            f"({prov['sae']['n_features']} features, {prov['sae']['activation']})."
        )
        + "</p>",
        imgs,
        _section(data["main"], "Populations"),
    ]
    if data["shuffled_control"]:
        body.append(_section(data["shuffled_control"], "Shuffled-label control (random units of the same sizes)"))
    body.append("<h2>Provenance</h2><pre>" + html.escape(json.dumps(prov, indent=1, sort_keys=True)) + "</pre>")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{REPORT_CSP}">'
        "<title>neurrator-bench interrogation</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
        "margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}img{max-width:100%}</style>"
        "</head><body>" + "\n".join(body) + "</body></html>\n"
    )
    return page
