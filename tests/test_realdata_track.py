"""The real-data track on the real Allen extract (session 791319847, NM1, 1-s bins)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neurrator_bench.dataset_access import open_dataset
from neurrator_bench.realdata import REAL_NM1_EXTRACT as REAL_MAT
from neurrator_bench.realdata_track import (
    TABLE_COLUMNS,
    load_repeat_counts,
    plot_realdata_track,
    realdata_summary,
    run_realdata_track,
    score_region_sizes,
    write_realdata_report,
)

CONFIG = "real-nm1-791319847"
REGIONS = ("V1", "higher_visual", "LGd", "hippocampus")
SIZES = (5, 10, 30)


@pytest.fixture(scope="module")
def real_ds(tmp_path_factory):
    from neurrator_bench.builders.build import build_dataset

    return build_dataset([], tmp_path_factory.mktemp("real") / "ds", prebinned=[REAL_MAT]).path


@pytest.fixture(scope="module")
def table(real_ds) -> pd.DataFrame:
    return run_realdata_track(real_ds, regions=REGIONS, sizes=SIZES, draws=20, seed=0)


def _acc(table: pd.DataFrame, region: str, n: int) -> float:
    row = table[(table["region"] == region) & (table["n_units"] == n)]
    assert len(row) == 1
    assert row["skipped"].iloc[0] == ""
    return float(row["accuracy_mean"].iloc[0])


def test_real_data_ordering_v1_over_higher_visual_over_hippocampus(table):
    v1, hva, hpc = (_acc(table, r, 30) for r in ("V1", "higher_visual", "hippocampus"))
    assert v1 > hva > hpc
    assert v1 > 0.65  # DESIGN: ~80 % (measured 0.76)
    assert 0.35 < hva < 0.7  # DESIGN: 40-65 % (measured 0.54)
    assert hpc < 0.15  # chance 1/30; measured 0.06
    # non-overlapping intervals: the ordering is not a draw accident
    at30 = table[table["n_units"] == 30].set_index("region")
    assert at30.loc["V1", "ci_low"] > at30.loc["higher_visual", "ci_high"]
    assert at30.loc["higher_visual", "ci_low"] > at30.loc["hippocampus", "ci_high"]


def test_real_data_v1_accuracy_grows_with_population(table):
    v1 = [_acc(table, "V1", n) for n in SIZES]
    assert v1 == sorted(v1)
    assert v1[0] > 3 * (1 / 30)


def test_table_columns_and_chance(table):
    assert tuple(table.columns) == TABLE_COLUMNS
    assert len(table) == len(REGIONS) * len(SIZES)
    assert np.allclose(table["chance"], 1 / 30)
    assert set(table["n_test_samples"]) == {60}  # test repeats 9 and 19 x 30 seconds
    assert set(table["config"]) == {CONFIG}
    assert set(table["session_id"]) == {"791319847"}
    scored = table[table["skipped"] == ""]
    assert (scored["n_draws"] == 20).all()
    assert (scored["ci_low"] <= scored["accuracy_mean"]).all()
    assert (scored["accuracy_mean"] <= scored["ci_high"]).all()
    counts = dict(zip(table["region"], table["n_region_units"], strict=False))
    assert counts == {"V1": 93, "higher_visual": 223, "LGd": 8, "hippocampus": 195}


def test_impossible_sizes_are_recorded_as_skipped(table):
    lgd = table[table["region"] == "LGd"].set_index("n_units")
    assert lgd.loc[5, "skipped"] == ""
    for n in (10, 30):
        assert lgd.loc[n, "skipped"] == f"region 'LGd' has only 8 units (< {n})"
        assert lgd.loc[n, "n_draws"] == 0
        assert np.isnan(lgd.loc[n, "accuracy_mean"])


def test_deterministic_for_a_seed_and_independent_of_region_order(real_ds, table):
    again = run_realdata_track(real_ds, regions=("hippocampus", "V1"), sizes=(30, 5), draws=20, seed=0)
    ref = table.set_index(["region", "n_units"])
    for rec in again.itertuples():
        assert rec.accuracy_mean == ref.loc[(rec.region, rec.n_units), "accuracy_mean"]
        assert rec.ci_low == ref.loc[(rec.region, rec.n_units), "ci_low"]
    other = run_realdata_track(real_ds, regions=("V1",), sizes=(30,), draws=20, seed=1)
    assert other["accuracy_mean"].iloc[0] != ref.loc[("V1", 30), "accuracy_mean"]


def test_load_repeat_counts_matches_split_rule(real_ds):
    ds = open_dataset(real_ds)
    train = load_repeat_counts(ds, CONFIG, ("train", "validation"))
    test = load_repeat_counts(ds, CONFIG, ("test",))
    assert train.counts.shape == (18, 30, 555)
    assert test.counts.shape == (2, 30, 555)
    np.testing.assert_array_equal(test.repeats, [9, 19])
    np.testing.assert_array_equal(train.frames, np.arange(30) * 30)
    assert set(train.repeats) == set(range(20)) - {9, 19}


def test_report_files(table, tmp_path):
    paths = write_realdata_report(table, tmp_path / "out")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(paths["csv"], keep_default_na=False, na_values=[""], dtype={"skipped": str})
    assert len(csv) == len(table)
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))
    at30 = next(o for o in summary["ordering"] if o["n_units"] == 30)
    assert at30["regions_by_accuracy"] == ["V1", "higher_visual", "hippocampus"]
    assert at30["v1_gt_higher_gt_hippocampus"] is True
    assert {(s["region"], s["n_units"]) for s in summary["skipped"]} == {("LGd", 10), ("LGd", 30)}
    assert summary["chance"] == pytest.approx(1 / 30)
    assert summary["config"] == CONFIG
    assert len(summary["rows"]) == len(table) - 2
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_summary_and_plot_errors(table, tmp_path):
    with pytest.raises(KeyError, match=r"missing columns \['skipped'\]"):
        realdata_summary(table.drop(columns=["skipped"]))
    skipped = table[table["skipped"] != ""]
    with pytest.raises(ValueError, match="no scored row to plot"):
        plot_realdata_track(skipped, tmp_path / "x.png")


def test_run_errors(real_ds):
    with pytest.raises(KeyError, match=r"unknown region group\(s\) \['thalamus'\]"):
        run_realdata_track(real_ds, regions=("thalamus",))
    with pytest.raises(ValueError, match="test_split 'test' is also in train_splits"):
        run_realdata_track(real_ds, train_splits=("train", "test"))
    with pytest.raises(KeyError, match="has no config 'real-nm1-1'"):
        run_realdata_track(real_ds, config="real-nm1-1")
    with pytest.raises(ValueError, match="draws: expected an int >= 1, found 0"):
        run_realdata_track(real_ds, draws=0)


def test_score_region_sizes_synthetic_closed_forms():
    rng = np.random.default_rng(0)
    rates = np.concatenate([rng.gamma(2.0, 5.0, size=(10, 6)), np.full((10, 6), 4.0)], axis=1)  # 6 tuned, 6 flat
    train = rng.poisson(rates, size=(8, 10, 12)).astype(float)
    test = rng.poisson(rates, size=(4, 10, 12)).astype(float)
    regions = {"V1": np.arange(6), "hippocampus": np.arange(6, 12), "LGd": np.array([], dtype=int)}
    out = score_region_sizes(train, test, regions, sizes=(6, 7), draws=3, seed=0)
    scored = out[out["skipped"] == ""].set_index("region")
    assert scored.loc["V1", "accuracy_mean"] > 0.6
    assert scored.loc["hippocampus", "accuracy_mean"] < 0.35  # chance 0.1
    assert scored.loc["V1", "accuracy_sd"] == pytest.approx(0.0, abs=1e-12)  # 6 of 6 units: draws identical
    reasons = dict(zip(zip(out["region"], out["n_units"], strict=True), out["skipped"], strict=True))
    assert reasons[("LGd", 6)] == "region 'LGd' has no units in this session"
    assert reasons[("V1", 7)] == "region 'V1' has only 6 units (< 7)"
    with pytest.raises(ValueError, match="sizes: expected ints >= 1, found 0"):
        score_region_sizes(train, test, regions, sizes=(0,), draws=1, seed=0)
    with pytest.raises(ValueError, match="must share"):
        score_region_sizes(train, test[:, :5], regions, sizes=(1,), draws=1, seed=0)
