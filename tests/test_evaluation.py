"""evaluate: the reference model and baselines end to end on the embedded default (issues 4 and 5 must-shows)."""

import json

import pytest

from neurrator_bench.baselines.registry import get_trainer
from neurrator_bench.dataset_access import load_sessions, load_units, open_dataset
from neurrator_bench.evaluation import evaluate_model
from neurrator_bench.leaderboard.compare import paired_compare
from neurrator_bench.leaderboard.site import build_site
from neurrator_bench.leaderboard.validate import validate_results
from neurrator_bench.reference_model.train_on_dataset import train_reference
from neurrator_bench.scoring import ScoringOptions
from neurrator_bench.text_embedding import SentenceEncoder

TASK = "nm1-sparse-random"
OPTS = ScoringOptions(n_boot=200, celltype_permutations=20)


@pytest.fixture(scope="module")
def setup(built_dataset, tmp_path_factory):
    ds = open_dataset(built_dataset)
    sessions = load_sessions(ds)
    recordings = sessions.loc[sessions["kind"] == "recording", "session_id"].tolist()
    units = load_units(ds)
    hippo = units[units["region_group"] == "hippocampus"].groupby("session_id").size()
    session = max(recordings, key=lambda s: (hippo.get(s, 0), s))
    root = tmp_path_factory.mktemp("eval")
    ref = train_reference(ds, TASK, root / "models" / "ref", sessions=[session, "pseudo-tagged"], seed=0)
    return ds, session, ref, root, SentenceEncoder()


def evaluate(setup, model_dir, **kw):
    ds, _, _, root, encoder = setup
    return evaluate_model(model_dir, ds, TASK, results_dir=root / "results", options=OPTS, encoder=encoder, **kw)


def test_reference_beats_every_floor(setup):
    entry = evaluate(setup, setup[2])
    for name in ("sbert_delta_word_salad", "sbert_delta_off_topic", "sbert_delta_shuffled"):
        m = entry.metric(name)
        # the smallest p the frame-block bootstrap can give, and a frame-level interval above 0
        assert m.ci_low > 0 and m.p_value == pytest.approx(1 / (OPTS.n_boot + 1)), (name, m)
        assert m.n_frames == entry.statistics.n_frames and m.interval == "frame-blocks"
    r10 = entry.metric("retrieval_r10")
    assert r10.chance is not None and r10.value > 2 * r10.chance, r10
    assert entry.metric("distinct_narration_ratio").value > 0.05
    # pseudo-PV/SST/VIP are decoded as cell-type subset queries of the pseudo-tagged member
    assert entry.metric("celltype_accuracy").n > 0 and entry.similarity.names == ["PV", "SST", "VIP"]


def test_hippocampus_query_stays_at_floor(setup):
    full = evaluate(setup, setup[2])
    hippo = evaluate(setup, setup[2], unit_filters={"region_group": "hippocampus"})
    assert hippo.subset.region_group == "hippocampus"
    r10 = hippo.metric("retrieval_r10")
    assert r10.ci_low <= r10.chance, r10
    assert hippo.metric("sbert_delta_shuffled").ci_low < 0.02
    assert hippo.metric("sbert_matched").value < full.metric("sbert_matched").value - 0.05


def test_quality_rises_with_visual_units(setup):
    visual = {"region_group": "V1|higher_visual"}
    scores = [
        evaluate(setup, setup[2], unit_filters=visual, n_units=n, draws=3).metric("sbert_matched").value
        for n in (8, 32, 64)
    ]
    assert scores[0] < scores[1] < scores[2], scores


def test_baselines_order_and_entries_validate(setup, tmp_path):
    ds, session, ref, root, _ = setup
    entries = {"ref": evaluate(setup, ref)}
    for name in ("ridge", "floor-train-mean", "floor-most-frequent-caption", "floor-random-caption"):
        model_dir = get_trainer(name)(ds, TASK, root / "models" / name, sessions=[session], overwrite=True)
        entries[name] = evaluate(setup, model_dir)
    floors = [n for n in entries if n.startswith("floor")]
    for top in ("ref", "ridge"):
        for floor in floors:
            # paired over the same frames (the leaderboard's test), not two overlapping marginal intervals
            (diff,) = paired_compare(entries[top], entries[floor], ["sbert_matched"], n_boot=200)
            assert diff.low > 0 and diff.significant, (top, floor, diff)
    assert validate_results(root / "results") == []
    index = build_site(root / "results", tmp_path / "site")
    assert "neurrator-reference" in index.read_text()
    data = json.loads((root / "results" / "neurrator-reference" / "main" / f"{TASK}.json").read_text())
    assert data["model"]["kind"] == "neurrator-encoder" and data["dataset"]["fingerprint"] == ds.task_fingerprint(TASK)
    assert data["dataset"]["data_origin"] == "simulated"


def test_scaling_loads_the_narrator_once_and_reports_the_floor(setup, monkeypatch, tmp_path):
    import neurrator_bench.evaluation as evaluation
    from neurrator_bench.evaluation import scaling_curve, write_scaling_report

    ds, _, ref, _, _ = setup
    calls = []
    real = evaluation.make_narrator

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "make_narrator", counting)
    asked = []
    real_predict = evaluation.predict_split

    def recording(*args, **kwargs):
        asked.append((kwargs["unit_filters"]["region_group"], tuple(kwargs["sessions"])))
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(evaluation, "predict_split", recording)
    regions = ("V1|higher_visual", "hippocampus")  # a union region counts its groups' units, as queries do
    table = scaling_curve(ref, ds, TASK, regions=regions, sizes=(8, 16, 10_000), draws=2, options=OPTS)
    assert calls == ["auto"]  # one narrator for every point and draw
    done = table[table["skipped"] == ""]
    assert len(done) >= 2 and done["shuffled_floor"].between(-1, 1).all() and set(table["narrator"]) == {"phrase"}
    # one session set per curve: every point of a region decodes the same recorded sessions (never a pseudo-mouse),
    # each with enough units for the region's largest scored size; the sessions left out have fewer
    units = load_units(ds)
    recorded = set(load_sessions(ds).query("kind == 'recording'")["session_id"])
    for region, curve in table.groupby("region"):
        assert curve["sessions"].nunique() == 1 and curve["excluded"].nunique() == 1
        scored = curve[curve["skipped"] == ""]
        chosen = curve["sessions"].iloc[0].split(";") if curve["sessions"].iloc[0] else []
        assert set(chosen) <= recorded
        groups = region.split("|")
        have = units[units["region_group"].isin(groups)].groupby("session_id").size()
        assert len(scored) >= 1, region
        top = int(scored["n_units"].max())
        assert chosen and all(have.get(s, 0) >= top for s in chosen), (region, chosen)
        # what was predicted: exactly the chosen sessions, at every scored point and draw
        assert {s for r, s in asked if r == region} == {tuple(chosen)}
        for item in filter(None, curve["excluded"].iloc[0].split(";")):
            sid, n = item.rsplit(":", 1)
            assert int(n) == have.get(sid, 0) < top
        (big,) = curve[curve["n_units"] == 10_000].itertuples()
        assert f"no decoded session has 10000 {region} units" in big.skipped
    paths = write_scaling_report(table, tmp_path / "scaling")
    assert paths["png"].read_bytes().startswith(b"\x89PNG") and "shuffled_floor" in paths["csv"].read_text()
