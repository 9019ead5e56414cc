"""Frame-identification decoders of the real-data track: closed forms, planted tuning, and the real session."""

from __future__ import annotations

import numpy as np
import pytest

from neurrator_bench.realdata_decoders import FRAME_ID_DECODERS, encoder_configs, vote, zscored_samples

FAST = ("template-euclidean", "template-correlation", "ridge", "pca-knn")
SLOW = ("cebra-knn", "reference-encoder")


def test_registry_names_in_order():
    assert FRAME_ID_DECODERS.in_order() == [*FAST, *SLOW]
    with pytest.raises(KeyError, match="Did you mean 'ridge'"):
        FRAME_ID_DECODERS.get("ridg")


def test_vote_majority_then_nearest_first_vote():
    labels = np.array([[2, 2, 1], [1, 2, 0]])
    assert vote(labels, 5).tolist() == [2, 1]  # 2 votes beat 1; all tied -> the nearest neighbour's label
    assert vote(np.array([[3, 1, 1, 3]]), 5).tolist() == [3]  # 2-2 tie: label 3 voted first (nearer)
    assert vote(np.array([[0, 4, 4]]), 5).tolist() == [4]


def test_zscored_samples_use_training_statistics_only():
    train = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    train[:, :, 1] = 5.0  # a constant unit: divisor 1
    test = np.full((1, 3, 2), 100.0)
    x_train, y_train, x_test, y_test = zscored_samples(train, test)
    flat = train.reshape(-1, 2)
    assert y_train.tolist() == [0, 1, 2, 0, 1, 2] and y_test.tolist() == [0, 1, 2]
    np.testing.assert_allclose(x_train[:, 0], (flat[:, 0] - flat[:, 0].mean()) / flat[:, 0].std(), rtol=1e-6)
    assert np.all(x_train[:, 1] == 0.0)
    np.testing.assert_allclose(x_test[:, 1], 95.0)
    np.testing.assert_allclose(x_test[:, 0], (100 - flat[:, 0].mean()) / flat[:, 0].std(), rtol=1e-6)


def _planted(seed: int = 0):
    """8 training and 4 test repeats of 10 frames: 6 units tuned to the frame, 6 flat Poisson units."""
    rng = np.random.default_rng(seed)
    rates = np.concatenate([rng.gamma(2.0, 5.0, size=(10, 6)), np.full((10, 6), 4.0)], axis=1)
    return rng.poisson(rates, size=(8, 10, 12)).astype(float), rng.poisson(rates, size=(4, 10, 12)).astype(float)


@pytest.mark.parametrize("name", [*FAST, *SLOW])
def test_every_decoder_reads_tuned_units_and_not_flat_ones(name):
    train, test = _planted()
    decode = FRAME_ID_DECODERS.get(name).fit_predict
    tuned = decode(train[:, :, :6], test[:, :, :6], 0)
    flat = decode(train[:, :, 6:], test[:, :, 6:], 0)
    assert tuned.shape == (4, 10) and tuned.dtype == np.int64
    truth = np.arange(10)
    assert (tuned == truth).mean() >= 0.7, name  # measured: 0.85-1.0
    assert (flat == truth).mean() <= 0.3, name  # chance 0.1
    # no test repeat takes part in fitting: changing repeat 3 leaves the predictions of repeats 0-2 unchanged
    other = test[:, :, :6].copy()
    other[3] = np.random.default_rng(9).poisson(20.0, size=other[3].shape)
    np.testing.assert_array_equal(decode(train[:, :, :6], other, 0)[:3], tuned[:3])  # (and deterministic)


def test_encoder_frame_identification_mode_is_the_paper_architecture():
    config, recipe = encoder_configs(n_units=30, n_frames=30, seed=3)
    assert (config.window_bins, config.n_patches, config.patch_dim) == (1, 1, 30)
    assert (config.conv_kernels, config.conv_channels, config.d_model, config.n_heads, config.n_layers) == (
        (3, 7, 15),
        128,
        384,
        8,
        2,
    )
    assert (recipe.lr, recipe.batch_size, recipe.max_epochs, recipe.patience) == (3e-4, 64, 60, 12)
    assert recipe.jitter_bins == 0 and recipe.seed == 3


@pytest.fixture(scope="module")
def real_ds(tmp_path_factory):
    from neurrator_bench.builders.build import build_dataset
    from neurrator_bench.realdata import REAL_NM1_EXTRACT

    return build_dataset([], tmp_path_factory.mktemp("real") / "ds", prebinned=[REAL_NM1_EXTRACT]).path


# the slow decoders on real data take ~100 s (6 fits): out of the default run; the README table measures them
@pytest.mark.parametrize(("names", "draws"), [(FAST, 5), pytest.param(SLOW, 1, marks=pytest.mark.slow)])
def test_every_decoder_orders_v1_over_higher_visual_over_hippocampus_on_real_data(real_ds, names, draws):
    from neurrator_bench.realdata_track import run_realdata_track

    table = run_realdata_track(real_ds, sizes=(30,), draws=draws, seed=0, decoders=names)
    assert list(dict.fromkeys(table["decoder"])) == list(names)
    for name in names:
        acc = table[table["decoder"] == name].set_index("region")["accuracy_mean"]
        assert acc["V1"] > acc["higher_visual"] > acc["hippocampus"], (name, acc.to_dict())
        assert acc["hippocampus"] < 0.15, name  # chance 1/30
    # every decoder decodes the same unit draws: the template rows equal a template-only run
    if "template-euclidean" in names:
        alone = run_realdata_track(real_ds, sizes=(30,), draws=draws, seed=0)
        np.testing.assert_array_equal(
            alone["accuracy_mean"], table[table["decoder"] == "template-euclidean"]["accuracy_mean"]
        )


def test_cebra_decoder_uses_the_baselines_settings():
    from neurrator_bench.realdata_decoders import cebra_baseline_settings

    assert cebra_baseline_settings() == {
        "output_dimension": 3,
        "num_hidden_units": 32,
        "max_iterations": 500,
        "batch_size": 512,
        "learning_rate": 3e-3,
        "temperature": 1.0,
        "model_architecture": "offset1-model",
    }
