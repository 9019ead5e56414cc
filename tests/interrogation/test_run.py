"""End to end on the embedded default: populations, one model, one SAE, every analysis, the report, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from neurrator_bench.cli import main
from neurrator_bench.dataset_access import load_samples, load_units, open_dataset
from neurrator_bench.interrogation.populations import parse_population, read_population, shuffled_populations
from neurrator_bench.interrogation.report import write_report
from neurrator_bench.interrogation.run import InterrogationOptions, interrogate
from neurrator_bench.interrogation.sae import load_sae, train_on_dataset
from neurrator_bench.model_kinds import load_model
from neurrator_bench.reference_model.train_on_dataset import train_reference
from neurrator_bench.text_embedding import SentenceEncoder

TASK = "nm1-sparse-random"
PAYLOAD = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def setup(built_dataset, sim_dir, tmp_path_factory):
    ds = open_dataset(built_dataset)
    root = tmp_path_factory.mktemp("interrogate")
    cfg = root / "tiny.json"
    cfg.write_text(json.dumps({"train": {"max_epochs": 1}}))
    model = train_reference(ds, TASK, root / "model", sessions=["pseudo-tagged"], config_file=cfg, seed=0)
    train_on_dataset(ds, root / "sae", exclude_task=TASK, n_features=64, k=4, epochs=2)
    opts = InterrogationOptions(n_boot=20, n_permutations=19, null_deals=3, concepts=("darkness or shadows", PAYLOAD))
    result = interrogate(
        model, ds, TASK, sae_dir=root / "sae", options=opts, encoder=SentenceEncoder(), simulation_dir=sim_dir
    )
    return ds, model, root, result


def test_populations_are_the_tagged_units_and_share_every_bin(setup):
    ds, _, _, result = setup
    units = load_units(ds)
    tagged = units[units["session_id"] == "pseudo-tagged"]
    main_units = {n: u[n] for n, u in result.main.units.items() for n in u}
    for line in ("PV", "SST", "VIP"):
        assert main_units[f"pseudo-{line}"] == int((tagged["cell_type"] == line).sum())
    # every pseudo-mouse has one row per test bin, so the common bins are all of them
    n_bins = len(load_samples(ds, TASK, "test", sessions=["pseudo-PV"]))
    assert result.main.aligned.keys.size == result.control.aligned.keys.size == n_bins > 0
    # the control deals the same tagged units at random into groups of the same sizes
    control_sizes = sorted(u["pseudo-tagged"] for u in result.control.units.values())
    assert control_sizes == sorted(main_units.values())


def test_shuffled_groups_partition_the_pool(setup):
    ds = setup[0]
    groups = shuffled_populations(ds, "pseudo-tagged", "cell_type", seed=5)
    ids = [set(g.filters["unit_id"].split("|")) for g in groups]
    pool = set(load_units(ds, "pseudo-tagged")["unit_id"].astype(str))
    assert set().union(*ids) == pool and sum(len(i) for i in ids) == len(pool)
    assert [g.name for g in groups] == ["shuffled-PV", "shuffled-SST", "shuffled-VIP"]


def test_sae_features_are_the_sae_of_the_predicted_patches(setup):
    ds, model_dir, root, result = setup
    model, sae = load_model(model_dir), load_sae(root / "sae", target_dim=384)
    from neurrator_bench.inference import make_narrator

    r = read_population(
        model,
        ds,
        TASK,
        parse_population("pseudo-VIP", ds),
        narrator=make_narrator("auto", ds, TASK),
        reduce_patches=sae.mean_activation,
    )
    # the dictionary's VIP means are the mean over bins of these per-bin activations
    p = result.main.names.index("pseudo-VIP")
    assert np.allclose(result.main.dictionary.means[p], r.features.mean(axis=0), atol=1e-5)


def test_every_analysis_is_present_and_in_range(setup):
    _, _, _, result = setup
    m = result.main
    assert m.similarity.shape == (3, 3) and np.allclose(np.diag(m.similarity), 1.0)
    c = m.classifier
    n_bins = m.aligned.keys.size
    assert c["chance"] == pytest.approx(1 / 3) and c["n"] == 3 * n_bins == int(np.sum(c["confusion"]))
    assert c["n_permutations"] == 19 and round(c["p_value"] * 20, 9) == int(round(c["p_value"] * 20))
    assert c["folds"] == "grouped by frame (stimulus, frame)"
    assert set(m.words) == set(m.names) and all(len(w) == 10 for w in m.words.values())
    s = m.stability.summary()
    assert all(0 <= v["mean_overlap"] <= 20 for v in s.values())
    assert m.loadings is not None and len(m.loadings) == 3 * 14
    pl = m.planted
    assert set(pl["tracking"]) == set(m.names) and pl["concepts"] == ["rounded", "vehicle", "dark"]
    # own tracking minus the mean of the others' sums to zero over the populations, for every concept
    for concept in pl["concepts"]:
        assert sum(pl["tracking_contrast"][n][concept]["value"] for n in m.names) == pytest.approx(0.0, abs=1e-12)
    assert {v["planted_in"] for v in pl["verdict"].values()} == {"pseudo-PV", "pseudo-SST", "pseudo-VIP"}
    assert set(result.control.planted["verdict"]) == {"rounded", "vehicle", "dark"}
    null = pl["null"]
    assert null["n_deals"] == 3 and null["dark"]["population"] == "pseudo-VIP"
    for concept in pl["concepts"]:
        row = null[concept]
        assert len(row["null"]) == 3 and row["real"] == pl["tracking_contrast"][row["population"]][concept]["value"]
        assert row["p"] == (1 + sum(v >= row["real"] for v in row["null"])) / 4
    assert m.similarity_floor_matrix.shape == (3, 3)


def test_an_sae_trained_on_the_test_frames_is_refused(setup, tmp_path):
    ds, model_dir, _, _ = setup
    from neurrator_bench.errors import ModelDirectoryError

    train_on_dataset(ds, tmp_path / "leaky", n_features=8, k=2, epochs=1)
    with pytest.raises(ModelDirectoryError, match="trained on the true patches of nm1-sparse-random's test frames"):
        interrogate(model_dir, ds, TASK, sae_dir=tmp_path / "leaky")


def test_report_files_and_escaping(setup, tmp_path):
    ds, _, _, result = setup
    paths = write_report(result, ds, tmp_path / "rep")
    for name in ("report.json", "index.html", "similarity.png", "concept_axes.png", "stability.png"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0
    page = paths["index.html"].read_text()
    assert PAYLOAD not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Data origin: <b>simulated</b>" in page
    data = json.loads(paths["report.json"].read_text())
    assert data["provenance"]["data_origin"] == "simulated"
    assert data["main"]["populations"] == ["pseudo-PV", "pseudo-SST", "pseudo-VIP"]
    assert data["provenance"]["sae"]["inputs"]["excluded_task"] == TASK


def test_cli_refuses_an_sae_of_another_dimension(setup, tmp_path):
    ds, model_dir, _, _ = setup
    from neurrator_bench.interrogation.sae import SAEConfig, train_sae

    train_sae(
        np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32),
        SAEConfig(input_dim=8, n_features=8, k=2, epochs=1),
        tmp_path / "small",
    )

    def run(*extra: str):
        args = ["interrogate", str(model_dir), "--dataset", str(ds.root), "--task", TASK, *extra]
        return CliRunner().invoke(main, [*args, "--sae", str(tmp_path / "small"), "--out", str(tmp_path / "o")])

    res = run()
    assert res.exit_code != 0 and "input_dim 8 but the dataset's targets are 384-d" in res.output
    res = run("--populations", "pseudo-XYZ")
    assert res.exit_code != 0 and "pseudo-XYZ" in res.output and "not a session" in res.output


def test_cli_sae_train(setup, tmp_path):
    ds = setup[0]
    res = CliRunner().invoke(
        main,
        [
            "sae",
            "train",
            "--dataset",
            str(ds.root),
            "--out",
            str(tmp_path / "s"),
            "--features",
            "16",
            "--k",
            "2",
            "--epochs",
            "1",
            "--exclude-task",
            TASK,
        ],
    )
    assert res.exit_code == 0, res.output
    sae = load_sae(tmp_path / "s", target_dim=384)
    assert sae.config.n_features == 16 and sae.config.inputs["excluded_task"] == TASK
