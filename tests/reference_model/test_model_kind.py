from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurrator_bench.dataset_access import load_supervised, open_dataset
from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.model_kinds import load_model, write_model_config
from neurrator_bench.reference_model.config import EncoderConfig
from neurrator_bench.reference_model.encoder import NeurratorEncoder
from neurrator_bench.reference_model.model_dir import save_model_dir
from neurrator_bench.reference_model.model_kind import NeurratorEncoderModel

TASK = "nm1-contiguous-middle"
SESSION = "9000800803"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread for the whole module (also around module fixtures): float sums, hence bitwise
    determinism, depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def test_split(built_dataset):
    ds = open_dataset(built_dataset)
    return ds, load_supervised(ds, TASK, "test", SESSION)


def _write_model_dir(path, ds, n_units: dict[str, int]):
    """A hand-made neurrator-encoder directory with random-init members (no training needed)."""
    for index, (session, units) in enumerate(n_units.items()):
        torch.manual_seed(index)
        config = EncoderConfig.tiny(n_units=units, window_bins=20, n_patches=16, patch_dim=384)
        save_model_dir(NeurratorEncoder(config).eval(), path / "sessions" / session, {"session_id": session})
    write_model_config(
        path,
        {
            "model_kind": "neurrator-encoder",
            "name": "hand-made",
            "task": TASK,
            "dataset_fingerprint": ds.task_fingerprint(TASK),
            "target_dim": 384,
            "training_sessions": list(n_units),
            "members": {s: f"sessions/{s}" for s in n_units},
        },
    )
    return path


@pytest.fixture
def model_dir(tmp_path, test_split):
    ds, split = test_split
    return _write_model_dir(tmp_path / "model", ds, {SESSION: split.x.shape[1], "pseudo-tagged": 11})


def test_load_and_predict_shapes_and_pooled(model_dir, test_split, monkeypatch):
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must never be called"))
    _, split = test_split
    model = load_model(model_dir)
    assert isinstance(model, NeurratorEncoderModel)
    assert model.sessions() == sorted([SESSION, "pseudo-tagged"])
    assert model.config["name"] == "hand-made"
    pred = model.predict(SESSION, split.x)
    n = split.x.shape[0]
    assert pred.patches.shape == (n, 16, 384) and pred.patches.dtype == np.float32
    assert pred.pooled.shape == (n, 384) and pred.pooled.dtype == np.float32
    np.testing.assert_allclose(pred.pooled, pred.patches.mean(axis=1), rtol=0, atol=1e-6)
    assert pred.narration is None
    # the member is the encoder itself: same output as a direct forward pass
    with torch.no_grad():
        direct = model.encoder(SESSION)(torch.from_numpy(split.x[:5])).numpy()
    np.testing.assert_allclose(pred.patches[:5], direct, atol=1e-5)


def test_unit_mask_is_the_subset_query(model_dir, test_split):
    _, split = test_split
    model = load_model(model_dir)
    n_units = split.x.shape[1]
    mask = np.arange(n_units) % 3 == 0
    masked = model.predict(SESSION, split.x[:8], unit_mask=mask)
    with torch.no_grad():
        direct = model.encoder(SESSION)(torch.from_numpy(split.x[:8]), torch.from_numpy(mask)).numpy()
    np.testing.assert_allclose(masked.patches, direct, atol=1e-5)
    assert not np.allclose(masked.patches, model.predict(SESSION, split.x[:8]).patches)
    # masking away units equals zeroing them and rescaling the rest by n_units / n_active
    rescaled = np.where(mask[None, :, None], split.x[:8] * (n_units / mask.sum()), 0.0).astype(np.float32)
    np.testing.assert_allclose(masked.patches, model.predict(SESSION, rescaled).patches, atol=1e-5)
    ints = model.predict(SESSION, split.x[:8], unit_mask=mask.astype(int))
    np.testing.assert_array_equal(ints.patches, masked.patches)
    with pytest.raises(ValueError, match=rf"unit_mask: expected shape \({n_units},\)"):
        model.predict(SESSION, split.x[:8], unit_mask=mask[:-1])
    with pytest.raises(ValueError, match="at least one active unit"):
        model.predict(SESSION, split.x[:8], unit_mask=np.zeros(n_units, bool))


def test_unknown_session_and_bad_input(model_dir, test_split):
    _, split = test_split
    model = load_model(model_dir)
    with pytest.raises(
        KeyError, match=r"no member for session 'nope'.*known sessions: \['9000800803', 'pseudo-tagged'\]"
    ):
        model.predict("nope", split.x)
    with pytest.raises(ValueError, match="x: expected shape"):
        model.predict("pseudo-tagged", split.x)


@pytest.mark.parametrize("name", ["weights.pt", "sessions/9000800803/extra.pkl", "sessions/pseudo-tagged/model.bin"])
def test_pickle_anywhere_is_refused(model_dir, name):
    (model_dir / name).write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelDirectoryError, match="pickle"):
        load_model(model_dir)


def _edit_config(model_dir, **changes):
    path = model_dir / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ({}, "field 'members' expected a non-empty"),
        ({"9000800803": "../elsewhere"}, "expected a folder inside"),
        ({"9000800803": "/abs/path"}, "expected a relative folder path"),
        ({"9000800803": "sessions/missing"}, "expected member file of session '9000800803'"),
    ],
)
def test_bad_members_are_refused(model_dir, members, match):
    _edit_config(model_dir, members=members)
    with pytest.raises(ModelDirectoryError, match=match):
        load_model(model_dir)


def test_member_target_dim_must_match(model_dir, test_split):
    _edit_config(model_dir, target_dim=512)
    model = load_model(model_dir)
    with pytest.raises(ModelDirectoryError, match="target_dim=512"):
        model.predict(SESSION, test_split[1].x[:2])


def test_pseudo_line_is_zscored_with_the_pool_statistics(tmp_path, test_split, monkeypatch):
    """Issue 17 item 7: pseudo-PV decoded through pseudo-tagged uses pseudo-tagged's statistics, on its columns."""
    from neurrator_bench import inference
    from neurrator_bench.dataset_access import load_normalization, load_units

    ds, _ = test_split
    units = load_units(ds)
    n_pool = int((units["session_id"] == "pseudo-tagged").sum())
    model = load_model(_write_model_dir(tmp_path / "m", ds, {"pseudo-tagged": n_pool}))
    pool, columns = inference.route_session(model, units, "pseudo-PV")
    assert pool == "pseudo-tagged" and 0 < len(columns) < n_pool
    asked, seen = [], {}
    real_zscore = inference.zscore_windows

    def spy_norm(ds_, task, session):
        asked.append(session)
        return load_normalization(ds_, task, session)

    def spy_zscore(spikes, mean, std):
        seen["mean"], seen["std"] = mean, std
        return real_zscore(spikes, mean, std)

    monkeypatch.setattr(inference, "load_normalization", spy_norm)
    monkeypatch.setattr(inference, "zscore_windows", spy_zscore)
    inference.predict_split(model, ds, TASK, sessions=["pseudo-PV"])
    assert asked == ["pseudo-tagged"]
    pool_mean, pool_std = load_normalization(ds, TASK, "pseudo-tagged")
    np.testing.assert_array_equal(seen["mean"], pool_mean[columns])
    np.testing.assert_array_equal(seen["std"], pool_std[columns])


@pytest.mark.parametrize("narrator", ["retrieval", "phrase"])
def test_predicting_in_chunks_equals_one_call(model_dir, test_split, narrator):
    """``rows_per_call`` bounds inference memory (patches narrated chunk by chunk) and changes no output."""
    from neurrator_bench import inference

    ds, split = test_split
    model = load_model(model_dir)
    assert model.rows_per_call == 256
    model.rows_per_call = None  # one call per session
    whole = inference.predict_split(model, ds, TASK, sessions=[SESSION], narrator=narrator)
    model.rows_per_call = 7
    chunked = inference.predict_split(model, ds, TASK, sessions=[SESSION], narrator=narrator)
    assert len(whole.sample_ids) == len(split.meta) > 7
    assert chunked.sample_ids == whole.sample_ids
    assert chunked.narration == whole.narration
    np.testing.assert_allclose(chunked.pooled, whole.pooled, rtol=0, atol=1e-6)
