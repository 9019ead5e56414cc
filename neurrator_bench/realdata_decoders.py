"""The package's own decoders in a frame-identification mode, for the real-data track (issue 11 item 9).

The real Allen extract (session 791319847, Natural Movie One in 1-s bins; ``realdata_track``) has no
CLIP targets and no captions: the real movie frames are not shipped, and the simulated movie's targets
must never stand in for them. So every decoder here identifies the movie second (one of ``n_frames`` = 30)
from the population response of one 1-s bin, trained on the training repeats and scored on the held-out
repeats with the same accuracy and intervals as the template decoder. The paper's Fig. 4 "plots held-out SBERT
similarity between decoded narrations and ground-truth captions against input population size, broken down by
anatomical pool"; this track is our own sanity check in that spirit (frame identification, not narration) and
none of its numbers is a paper number. The sizes, draws, K=10, 20 PCA components, 6 ridge folds and the two
early-stopping repeats are our choices.

Each decoder is a pure function ``(train (r_train, n_frames, n_units), test (r_test, n_frames, n_units),
seed) -> (r_test, n_frames)`` predicted frame indices, built from the same fitting code as the
spike-to-text baselines and the reference model (only the target differs: the movie second instead of
its CLIP embedding):

- ``template-euclidean`` / ``template-correlation``: nearest mean-over-repeats template
  (`scorers.frame_identification.template_decode`).
- ``ridge``: closed-form ridge (`baselines.ridge.fit_ridge`) from z-scored counts to the one-hot second,
  penalty chosen by `baselines.ridge.ridge_cv` over folds of whole training repeats; the prediction is the
  arg-max output.
- ``pca-knn``: PCA of the z-scored training responses (`baselines.pca_knn.fit_pca`, at most 20 components),
  then a vote of the 10 cosine-nearest training responses (`baselines.pca_knn.knn_indices`).
- ``cebra-knn``: CEBRA-Behavior with the second as its discrete label (`baselines.cebra_knn.fit_cebra` with
  the baseline's own settings: 3-d output, 32 hidden units, 500 iterations), then the same 10-neighbour vote in
  the embedding.
- ``reference-encoder``: the Neurrator encoder (`reference_model`) with the paper's layer sizes and recipe
  (conv 3/7/15 x 128, d_model 384, 8 heads, 2 layers, AdamW 3e-4 cosine, batch 64, 60 epochs, patience 12,
  10 % neuron dropout) in its frame-identification mode: ``window_bins=1``, since the extract has one 1-s bin
  per sample, and one output token of width ``n_frames`` trained on the one-hot second with the paper's loss;
  the prediction is the arg-max. With one bin the model's temporal parts are inert: each convolution sees its
  centre tap only, attention runs over one token, and there is no temporal jitter. What it keeps is the
  encoder's nonlinear population read-out and its training recipe. It trains on all but the last two training
  repeats, which watch early stopping (our choice: the track's validation repeats are part of its training
  set); the other decoders fit all training repeats.

Z-scoring: every learned decoder z-scores each unit with the mean and standard deviation of the training
counts (a constant unit gets divisor 1), as the dataset's ``normalization`` config does; the test repeats are
never seen in fitting. Votes break ties toward the nearer neighbour, then the lower frame index. Every decoder
is deterministic for a seed. Cost per fit on 2 CPU cores (30 units, 18 training repeats): templates, ridge and
PCA+KNN well under a second, CEBRA about 4 s, the reference encoder about 40 s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurrator_bench.registry import Registry

KNN_K = 10
PCA_COMPONENTS = 20
RIDGE_FOLDS = 6
ENCODER_VAL_REPEATS = 2


@dataclass(frozen=True)
class FrameIdDecoder:
    """A registered frame-identification decoder.

    Attributes:
        name: Registry name (the ``decoder`` column of the track's table).
        fit_predict: ``(train, test, seed) -> (r_test, n_frames)`` int64 predicted frames.
    """

    name: str
    fit_predict: Callable[[np.ndarray, np.ndarray, int], np.ndarray]


FRAME_ID_DECODERS: Registry[FrameIdDecoder] = Registry("frame-identification decoder")


def _register(name: str) -> Callable:
    def decorator(fn: Callable[[np.ndarray, np.ndarray, int], np.ndarray]) -> Callable:
        FRAME_ID_DECODERS.add(name, FrameIdDecoder(name, fn))
        return fn

    return decorator


def zscored_samples(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training-z-scored samples and their frame labels.

    Returns:
        ``(x_train (r_train * n_frames, n_units) float32, y_train (r_train * n_frames,) int64,
        x_test (r_test * n_frames, n_units) float32, y_test)``; rows run over repeats, then frames.
    """
    from neurrator_bench.dataset_access import zscore_scale

    _, n_frames, n_units = train.shape
    flat = train.reshape(-1, n_units).astype(np.float64)
    mean, scale = flat.mean(axis=0), zscore_scale(flat.std(axis=0))
    x_train = ((flat - mean) / scale).astype(np.float32)
    x_test = ((test.reshape(-1, n_units) - mean) / scale).astype(np.float32)
    labels = np.tile(np.arange(n_frames, dtype=np.int64), len(train))
    return x_train, labels, x_test, np.tile(np.arange(n_frames, dtype=np.int64), len(test))


def vote(neighbour_labels: np.ndarray, n_frames: int) -> np.ndarray:
    """Majority label of each row of ``(n, k)`` neighbour labels (nearest first).

    Ties go to the label whose first vote is nearest, so a 1-vote tie is the nearest neighbour's label.
    """
    n, k = neighbour_labels.shape
    votes = np.zeros((n, n_frames), dtype=np.float64)
    rows = np.repeat(np.arange(n), k)
    np.add.at(votes, (rows, neighbour_labels.reshape(-1)), 1.0)
    first = np.full((n, n_frames), k, dtype=np.int64)
    np.minimum.at(first, (rows, neighbour_labels.reshape(-1)), np.tile(np.arange(k), n))
    # more votes first, then the nearer first vote (the lower frame index only if both tie)
    return np.argmax(votes * (k + 1) - first, axis=1).astype(np.int64)


def _shape(pred: np.ndarray, test: np.ndarray) -> np.ndarray:
    return np.asarray(pred, dtype=np.int64).reshape(test.shape[0], test.shape[1])


@_register("template-euclidean")
def template_euclidean(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """Nearest training-z-scored template (`template_decode`, euclidean)."""
    from neurrator_bench.scorers.frame_identification import template_decode

    return template_decode(train, test, metric="euclidean")


@_register("template-correlation")
def template_correlation(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """Highest-correlation template (`template_decode`, correlation)."""
    from neurrator_bench.scorers.frame_identification import template_decode

    return template_decode(train, test, metric="correlation")


@_register("ridge")
def ridge(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """Ridge to the one-hot second; penalty by cross-validation over whole training repeats."""
    from neurrator_bench.baselines.ridge import DEFAULT_ALPHAS, fit_ridge, ridge_cv

    x_train, y_train, x_test, _ = zscored_samples(train, test)
    n_frames = train.shape[1]
    onehot = np.eye(n_frames, dtype=np.float64)
    folds = np.repeat(np.arange(len(train)) % min(RIDGE_FOLDS, len(train)), n_frames)
    alpha, _ = ridge_cv(x_train, onehot[y_train], folds, DEFAULT_ALPHAS)
    coef, intercept = fit_ridge(x_train, onehot, alpha, rows=y_train)
    return _shape(np.argmax(x_test @ coef + intercept, axis=1), test)


@_register("pca-knn")
def pca_knn(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """PCA of the training responses, then a 10-nearest-neighbour vote (cosine)."""
    from neurrator_bench.baselines.pca_knn import fit_pca, knn_indices

    x_train, y_train, x_test, _ = zscored_samples(train, test)
    mean, comps, _ = fit_pca(x_train, PCA_COMPONENTS)
    bank, queries = (x_train - mean) @ comps.T, (x_test - mean) @ comps.T
    return _shape(vote(y_train[knn_indices(bank, queries, KNN_K)], train.shape[1]), test)


def cebra_baseline_settings() -> dict:
    """The ``cebra-knn`` baseline's own training settings (the defaults of `baselines.cebra_knn.train`)."""
    import inspect

    from neurrator_bench.baselines import cebra_knn

    names = ("output_dimension", "num_hidden_units", "max_iterations", "batch_size", "learning_rate")
    params = inspect.signature(cebra_knn.train).parameters
    return {name: params[name].default for name in (*names, "temperature", "model_architecture")}


@_register("cebra-knn")
def cebra_knn(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """CEBRA-Behavior with the second as discrete label, then a 10-nearest-neighbour vote in the embedding."""
    from neurrator_bench.baselines.cebra_knn import embed, fit_cebra
    from neurrator_bench.baselines.pca_knn import knn_indices

    x_train, y_train, x_test, _ = zscored_samples(train, test)
    network, _, _ = fit_cebra(x_train, y_train, seed=seed, **cebra_baseline_settings())
    bank, queries = embed(network, x_train), embed(network, x_test)
    return _shape(vote(y_train[knn_indices(bank, queries, KNN_K)], train.shape[1]), test)


def encoder_configs(n_units: int, n_frames: int, seed: int) -> tuple:
    """The paper's encoder and recipe in frame-identification mode: one 1-s bin in, one n_frames-wide token out."""
    from neurrator_bench.reference_model.config import EncoderConfig, TrainConfig

    config = EncoderConfig(n_units=n_units, window_bins=1, n_patches=1, patch_dim=n_frames)
    recipe = TrainConfig(jitter_bins=0, device="cpu", seed=seed)
    return config, recipe


@_register("reference-encoder")
def reference_encoder(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """The Neurrator encoder trained on the one-hot second (window_bins=1), early-stopped on 2 training repeats."""
    from neurrator_bench.baselines.common import torch_threads
    from neurrator_bench.reference_model.training import predict, train_encoder

    r_train, n_frames, n_units = train.shape
    if r_train <= ENCODER_VAL_REPEATS:
        raise ValueError(
            f"reference-encoder: expected more than {ENCODER_VAL_REPEATS} training repeats, found {r_train}"
        )
    x_train, y_train, x_test, _ = zscored_samples(train, test)
    onehot = np.eye(n_frames, dtype=np.float32)[:, None, :]  # (n_frames, 1 token, n_frames)
    cut = (r_train - ENCODER_VAL_REPEATS) * n_frames  # the last two training repeats watch early stopping
    config, recipe = encoder_configs(n_units, n_frames, seed)
    with torch_threads(1):
        result = train_encoder(
            x_train[:cut, :, None],
            onehot[y_train[:cut]],
            x_train[cut:, :, None],
            onehot[y_train[cut:]],
            config,
            recipe,
        )
        scores = predict(result.model, x_test[:, :, None])[:, 0, :]
    return _shape(np.argmax(scores, axis=1), test)


FRAME_ID_DECODERS.freeze()
