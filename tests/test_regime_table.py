"""Narrator bounds and the regime table on the session fixture dataset (a tiny reference model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurrator_bench.dataset_access import open_dataset
from neurrator_bench.narrator_bounds import narrator_bounds, other_frame_partner
from neurrator_bench.regime_table import regime_table, render_regime_table
from neurrator_bench.schemas.result_entry import subset_slug
from neurrator_bench.scoring import ScoringOptions

TASK = "nm1-contiguous-middle"
SESSION = "9000800803"
TINY = {
    "encoder": {"conv_kernels": [3], "conv_channels": 4, "d_model": 16, "n_heads": 2, "n_layers": 1, "ff_mult": 1},
    "train": {"lr": 1e-3, "batch_size": 512, "max_epochs": 1, "patience": 1, "device": "cpu"},
}


def _metric(entry, name):
    return next(m for m in entry.metrics if m.name == name)


def test_other_frame_partner_never_pairs_a_frame_with_itself():
    frames = np.array(["a", "a", "b", "c", "c", "c"])
    partner = other_frame_partner(frames, seed=1)
    assert np.all(frames[partner] != frames)
    assert np.array_equal(partner, other_frame_partner(frames, seed=1))
    with pytest.raises(ValueError, match="same frame"):
        other_frame_partner(np.array(["a", "a"]), seed=0)


@pytest.fixture(scope="module")
def bounds(built_dataset):
    ds = open_dataset(built_dataset)
    return narrator_bounds(ds, TASK, options=ScoringOptions(seed=0, n_boot=50, celltype_permutations=0))


def test_narrator_ceiling_is_high_and_above_its_floor(bounds):
    true, shuffled = bounds["true"], bounds["shuffled"]
    assert true.model.name == "phrase-on-true-patches" and true.narrator.kind == "phrase"
    ceiling = _metric(true, "sbert_matched").value
    assert ceiling >= 0.75
    assert ceiling > _metric(shuffled, "sbert_matched").value + 0.3
    # true patches retrieve their own frame; shuffled ones sit near chance
    assert _metric(true, "retrieval_r10").value >= 0.9
    assert _metric(shuffled, "retrieval_r10").value < 0.2


def test_regime_table_rows_and_paired_difference(built_dataset, tmp_path):
    from neurrator_bench.reference_model.train_on_dataset import train_reference

    ds = open_dataset(built_dataset)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    models = tmp_path / "models"
    train_reference(ds, TASK, models / f"neurrator-reference-{TASK}", sessions=[SESSION], config_file=cfg, seed=0)
    result = regime_table(
        ds,
        models,
        tasks=[TASK],
        options=ScoringOptions(seed=0, n_boot=50, celltype_permutations=0),
        results_dir=tmp_path / "results",
    )
    table = result.table.set_index(["model", "narrator"])
    assert set(table.index) == {
        ("neurrator-reference", "phrase"),
        ("neurrator-reference", "retrieval"),
        ("baseline-ridge-patches", "phrase"),
        ("baseline-ridge-patches", "retrieval"),
        ("neurrator-reference @hippocampus (subset query)", "phrase"),
        ("(no decoder: true patches)", "phrase"),
        ("(no decoder: shuffled patches)", "phrase"),
    }
    # the retrieval narrator only ever says training captions; the phrase narrator mostly says new sentences
    assert table.loc[("neurrator-reference", "retrieval"), "novel"] == 0.0
    assert table.loc[("neurrator-reference", "phrase"), "novel"] >= 0.3
    # new combinations are a fraction, defined for the phrase narrator only
    assert 0.0 <= table.loc[("neurrator-reference", "phrase"), "new_combination"] <= 1.0
    assert np.isnan(table.loc[("neurrator-reference", "retrieval"), "new_combination"])
    assert (
        table.loc[("(no decoder: true patches)", "phrase"), "sbert"]
        > table.loc[("(no decoder: shuffled patches)", "phrase"), "sbert"]
    )
    assert list(result.paired["task"]) == [TASK, TASK] and result.paired["n_frames"].min() >= 150
    assert list(result.paired["model"]) == ["neurrator-reference", "baseline-ridge-patches"]
    # the linear patch decoder's retrieval narrator says training captions only, and its two narrators' rows
    # pair up with the difference the paired table reports
    assert table.loc[("baseline-ridge-patches", "retrieval"), "novel"] == 0.0
    ridge = result.paired.set_index("model").loc["baseline-ridge-patches"]
    assert ridge["phrase_minus_retrieval"] == pytest.approx(
        table.loc[("baseline-ridge-patches", "phrase"), "sbert"]
        - table.loc[("baseline-ridge-patches", "retrieval"), "sbert"],
        abs=1e-6,
    )
    text = render_regime_table(result)
    assert text.count("\n| nm1-contiguous-middle |") == 9 and "phrase - retrieval" in text
    assert len(list((tmp_path / "results").rglob("*.json"))) == 7
    # the cell-type probe is scored on the reference model's phrase entry only; the other rows say it was off
    for entry in result.entries:
        off = [s.reason for s in entry.skipped if s.name == "celltype_accuracy"]
        is_main = (
            entry.model.name == "neurrator-reference"
            and entry.narrator.kind == "phrase"
            and not subset_slug(entry.subset)
        )
        assert bool(off and "switched off" in off[0]) != is_main, (entry.model.name, entry.narrator.kind, off)


def test_regimes_command_writes_the_markdown(built_dataset, tmp_path):
    from click.testing import CliRunner

    from neurrator_bench.cli import main
    from neurrator_bench.reference_model.train_on_dataset import train_reference

    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    models = tmp_path / "models"
    train_reference(built_dataset, TASK, models / f"neurrator-reference-{TASK}", sessions=[SESSION], config_file=cfg)
    out = tmp_path / "regimes.md"
    args = [
        "regimes",
        "--dataset",
        str(built_dataset),
        "--models",
        str(models),
        "--task",
        TASK,
        "--n-boot",
        "20",
        "--no-baselines",
    ]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text in result.output and text.count(f"| {TASK} |") == 6
    assert "baseline-ridge-patches" not in text  # --no-baselines
    bad = CliRunner().invoke(
        main, ["regimes", "--dataset", str(built_dataset), "--models", str(models), "--task", "nope"]
    )
    assert bad.exit_code != 0 and "nope" in bad.output
    unknown = CliRunner().invoke(main, [*args[:-1], "--baseline", "ridge-pacthes"])
    assert unknown.exit_code != 0 and "ridge-patches" in unknown.output  # refused before training, names the known
    both = CliRunner().invoke(main, [*args, "--baseline", "ridge-patches"])
    assert both.exit_code != 0 and "exclude each other" in both.output
