"""Read stimulus frames and their ground-truth annotations.

Two sources give the same :class:`StimulusSet` records:

- a **stimulus bundle** written by the simulator: ``STIM/bundle.json``::

      {"schema_version": 1, "seed": int, "patch_grid": [gh, gw], "image_shape": [H, W],
       "stimuli": {name: {"n_frames": n, "files": {fname: sha256hex}}}}

  and per stimulus ``STIM/<name>/frames.npy`` (uint8 ``(n_frames, H, W)`` grayscale) and
  ``STIM/<name>/annotations.parquet`` (columns ``frame`` int64, ``description`` str,
  ``patch_descriptions`` list<str> of length ``gh * gw``, row-major over the patch grid, and optionally
  ``patch_mixtures`` list<list<struct<phrase: str, weight: float>>>: per patch, the phrases it shows
  weighted by visible area; the embedded target space uses the mixtures when present);
- an **allensdk cache folder** (``EcephysProjectCache``) holding the real stimulus templates:
  ``natural_movie_templates/natural_movie_{1,3}.h5`` (NumPy .npy bytes despite the suffix, as allensdk
  reads them; HDF5 ``data`` accepted) and
  ``natural_scene_templates/natural_scene_<n>.tiff``. Real templates carry no descriptions.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from PIL import Image

from neurrator_bench.atomic_files import file_sha256 as sha256_file
from neurrator_bench.errors import DatasetFormatError

logger = logging.getLogger(__name__)

BUNDLE_SCHEMA_VERSION = 1
BUNDLE_FILE = "bundle.json"
FRAMES_FILE = "frames.npy"
ANNOTATIONS_FILE = "annotations.parquet"
ANNOTATION_COLUMNS = ("frame", "description", "patch_descriptions")
MIXTURE_COLUMN = "patch_mixtures"

ALLEN_MOVIE_FILES = {
    "natural_movie_one": Path("natural_movie_templates") / "natural_movie_1.h5",
    "natural_movie_three": Path("natural_movie_templates") / "natural_movie_3.h5",
}
ALLEN_SCENES_NAME = "natural_scenes"
ALLEN_SCENES_DIR = Path("natural_scene_templates")
_SCENE_FILE_RE = re.compile(r"^natural_scene_(\d+)\.tiff?$")
_HASH_CHUNK = 1 << 20


@dataclass
class StimulusSet:
    """The frames of one stimulus and, for simulated stimuli, what they show.

    Attributes:
        name: Stimulus name (e.g. ``"natural_movie_one"``).
        frames: ``(n_frames, H, W)`` uint8 grayscale frames; row ``i`` is frame index ``i``.
        descriptions: ``n_frames`` scene descriptions, or ``None`` (real Allen templates).
        patch_descriptions: ``n_frames`` lists of ``gh * gw`` per-patch phrases (row-major), or ``None``.
        patch_mixtures: ``n_frames`` lists of ``gh * gw`` ``{phrase: weight}`` mixtures, or ``None``.
    """

    name: str
    frames: np.ndarray
    descriptions: list[str] | None
    patch_descriptions: list[list[str]] | None
    patch_mixtures: list[list[dict[str, float]]] | None = None

    @property
    def patch_contents(self) -> list[list[str]] | list[list[dict[str, float]]] | None:
        """What the embedded target space embeds: the mixtures when present, else the dominant phrases."""
        return self.patch_mixtures if self.patch_mixtures is not None else self.patch_descriptions


def _read_bundle_index(path: Path) -> dict:
    index_path = path / BUNDLE_FILE
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path}: stimulus bundle index not found")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetFormatError(f"{index_path}: expected JSON, found a parse error: {err}") from err
    if not isinstance(index, dict):
        raise DatasetFormatError(f"{index_path}: expected a JSON object, found {type(index).__name__}")
    for key in ("schema_version", "seed", "patch_grid", "image_shape", "stimuli"):
        if key not in index:
            raise DatasetFormatError(f"{index_path}: missing field {key!r}")
    if index["schema_version"] != BUNDLE_SCHEMA_VERSION:
        raise DatasetFormatError(
            f"{index_path}: field 'schema_version' expected {BUNDLE_SCHEMA_VERSION}, found {index['schema_version']!r}"
        )
    for key in ("patch_grid", "image_shape"):
        value = index[key]
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
            raise DatasetFormatError(f"{index_path}: field {key!r} expected two positive ints, found {value!r}")
    if not isinstance(index["stimuli"], dict) or not index["stimuli"]:
        raise DatasetFormatError(f"{index_path}: field 'stimuli' expected a non-empty object")
    return index


def _verify_files(stim_dir: Path, name: str, files: dict[str, str]) -> None:
    for fname in (FRAMES_FILE, ANNOTATIONS_FILE):
        if (stim_dir / fname).exists() and fname not in files:
            raise DatasetFormatError(
                f"{stim_dir / fname}: present but not listed in {BUNDLE_FILE} stimuli.{name}.files, "
                "so its checksum cannot be verified"
            )
    for fname, expected in files.items():
        file_path = stim_dir / fname
        if not file_path.is_file():
            raise FileNotFoundError(f"{file_path}: listed in {BUNDLE_FILE} stimuli.{name}.files but missing")
        found = sha256_file(file_path)
        if found != str(expected).lower():
            raise DatasetFormatError(
                f"{file_path}: sha256 mismatch: expected {expected} (from {BUNDLE_FILE}), found {found}"
            )


def _read_frames(file_path: Path, n_frames: int, image_shape: tuple[int, int]) -> np.ndarray:
    if not file_path.is_file():
        raise FileNotFoundError(f"{file_path}: stimulus frames not found")
    frames = np.load(file_path, allow_pickle=False)
    expected = (n_frames, *image_shape)
    if frames.dtype != np.uint8 or frames.shape != expected:
        raise DatasetFormatError(
            f"{file_path}: expected uint8 frames of shape {expected}, found {frames.dtype} {frames.shape}"
        )
    return frames


def _read_mixtures(file_path: Path, column: pd.Series, frame_ids: list[int], n_patches: int) -> list[list[dict]]:
    out: list[list[dict[str, float]]] = []
    for frame, row in zip(frame_ids, column, strict=True):
        patches = [] if row is None else list(row)
        if len(patches) != n_patches:
            raise DatasetFormatError(
                f"{file_path}: column '{MIXTURE_COLUMN}' row frame={frame}: expected {n_patches} patch mixtures "
                f"(patch_grid gh*gw), found {len(patches)}"
            )
        mixes = []
        for k, items in enumerate(patches):
            try:
                mix = {str(item["phrase"]): float(item["weight"]) for item in items}
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetFormatError(
                    f"{file_path}: column '{MIXTURE_COLUMN}' row frame={frame} patch {k}: expected a list of "
                    f"{{phrase: str, weight: float}}, found {items!r}"
                ) from exc
            if not mix or any(not w >= 0 for w in mix.values()) or sum(mix.values()) <= 0:
                raise DatasetFormatError(
                    f"{file_path}: column '{MIXTURE_COLUMN}' row frame={frame} patch {k}: expected phrases with "
                    f"weights >= 0 summing above 0, found {mix}"
                )
            mixes.append(mix)
        out.append(mixes)
    return out


def _read_annotations(
    file_path: Path, n_frames: int, n_patches: int
) -> tuple[list[str], list[list[str]], list[list[dict[str, float]]] | None]:
    table = pd.read_parquet(file_path)
    missing = [col for col in ANNOTATION_COLUMNS if col not in table.columns]
    if missing:
        raise DatasetFormatError(
            f"{file_path}: missing column(s) {missing}; expected {list(ANNOTATION_COLUMNS)}, "
            f"found {list(table.columns)}"
        )
    frame_col = table["frame"].to_numpy()
    if not np.issubdtype(frame_col.dtype, np.integer):
        raise DatasetFormatError(f"{file_path}: column 'frame' expected integers, found dtype {frame_col.dtype}")
    table = table.sort_values("frame", kind="stable").reset_index(drop=True)
    frame_ids = table["frame"].to_numpy()
    if len(frame_ids) != n_frames or not np.array_equal(frame_ids, np.arange(n_frames)):
        expected_ids = set(range(n_frames))
        found_ids = frame_ids.tolist()
        duplicates = sorted(f for f, count in Counter(found_ids).items() if count > 1)[:10]
        raise DatasetFormatError(
            f"{file_path}: column 'frame' expected each of 0..{n_frames - 1} exactly once; "
            f"missing {sorted(expected_ids - set(found_ids))[:10]}, "
            f"unexpected {sorted(set(found_ids) - expected_ids)[:10]}, duplicated {duplicates}"
        )
    descriptions: list[str] = []
    patches: list[list[str]] = []
    for frame, description, phrases in zip(
        frame_ids.tolist(), table["description"], table["patch_descriptions"], strict=True
    ):
        if not isinstance(description, str):
            raise DatasetFormatError(
                f"{file_path}: column 'description' row frame={frame}: expected str, found {type(description).__name__}"
            )
        phrase_list = [] if phrases is None else list(phrases)
        if len(phrase_list) != n_patches or not all(isinstance(p, str) for p in phrase_list):
            raise DatasetFormatError(
                f"{file_path}: column 'patch_descriptions' row frame={frame}: expected {n_patches} strings "
                f"(patch_grid gh*gw), found {len(phrase_list)} items"
            )
        descriptions.append(description)
        patches.append(phrase_list)
    mixtures = None
    if MIXTURE_COLUMN in table.columns:
        mixtures = _read_mixtures(file_path, table[MIXTURE_COLUMN], frame_ids.tolist(), n_patches)
    return descriptions, patches, mixtures


def load_stimulus_bundle(path: Path, names: Sequence[str] | None = None, verify: bool = True) -> dict[str, StimulusSet]:
    """Load stimuli from a simulator's stimulus bundle folder.

    Args:
        path: The bundle folder (holding ``bundle.json``).
        names: Stimuli to load; ``None`` loads all, in ``bundle.json`` order.
        verify: Check every listed file's SHA-256 against ``bundle.json`` before reading it.

    Returns:
        ``name -> StimulusSet`` with frames ``(n_frames, H, W)`` uint8 and, when the stimulus has an
        ``annotations.parquet``, ``n_frames`` descriptions and ``n_frames x (gh * gw)`` patch phrases.

    Raises:
        FileNotFoundError: If ``bundle.json`` or a listed/required file is missing.
        KeyError: If a requested name is not in the bundle (the message lists the available names).
        DatasetFormatError: On a checksum mismatch, a malformed index, wrong frame shape/dtype,
            non-contiguous ``frame`` values or a patch list of the wrong length.
    """
    path = Path(path)
    index = _read_bundle_index(path)
    stimuli: dict = index["stimuli"]
    wanted = list(stimuli) if names is None else list(names)
    unknown = [name for name in wanted if name not in stimuli]
    if unknown:
        raise KeyError(f"{path / BUNDLE_FILE}: stimuli {unknown} not in the bundle; available: {sorted(stimuli)}")
    gh, gw = index["patch_grid"]
    image_shape = (index["image_shape"][0], index["image_shape"][1])
    result: dict[str, StimulusSet] = {}
    for name in wanted:
        entry = stimuli[name]
        if not isinstance(entry, dict) or "n_frames" not in entry or "files" not in entry:
            raise DatasetFormatError(
                f"{path / BUNDLE_FILE}: stimuli.{name} expected fields 'n_frames' and 'files', found {entry!r}"
            )
        n_frames = int(entry["n_frames"])
        stim_dir = path / name
        if verify:
            _verify_files(stim_dir, name, dict(entry["files"]))
        frames = _read_frames(stim_dir / FRAMES_FILE, n_frames, image_shape)
        descriptions: list[str] | None = None
        patch_descriptions: list[list[str]] | None = None
        mixtures: list[list[dict[str, float]]] | None = None
        if (stim_dir / ANNOTATIONS_FILE).is_file():
            descriptions, patch_descriptions, mixtures = _read_annotations(
                stim_dir / ANNOTATIONS_FILE, n_frames, gh * gw
            )
        else:
            logger.info("%s: no %s; stimulus %r has no descriptions", stim_dir, ANNOTATIONS_FILE, name)
        result[name] = StimulusSet(name, frames, descriptions, patch_descriptions, mixtures)
    return result


def _as_uint8_gray(image: Image.Image, file_path: Path) -> np.ndarray:
    if image.mode in ("RGB", "RGBA", "P", "LA"):
        image = image.convert("L")
    array = np.asarray(image)
    if array.ndim != 2:
        raise DatasetFormatError(f"{file_path}: expected a 2-D grayscale image, found shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer) or np.all(np.mod(array, 1) == 0):
        if array.min() >= 0 and array.max() <= 255:
            return array.astype(np.uint8)
    raise DatasetFormatError(
        f"{file_path}: expected 8-bit grayscale pixel values in [0, 255], found dtype {array.dtype} "
        f"with range [{array.min()}, {array.max()}]"
    )


def _load_allen_scenes(scene_dir: Path) -> StimulusSet:
    by_index: dict[int, Path] = {}
    for file_path in scene_dir.iterdir():
        match = _SCENE_FILE_RE.match(file_path.name)
        if match:
            by_index[int(match.group(1))] = file_path
    if not by_index:
        raise FileNotFoundError(f"{scene_dir}: no natural_scene_<n>.tiff files")
    missing = sorted(set(range(max(by_index) + 1)) - set(by_index))
    if missing:
        raise DatasetFormatError(
            f"{scene_dir}: expected natural_scene_<n>.tiff for every n in 0..{max(by_index)}, missing n={missing}"
        )
    images = []
    for n in range(len(by_index)):
        with Image.open(by_index[n]) as image:
            images.append(_as_uint8_gray(image, by_index[n]))
    shapes = {img.shape for img in images}
    if len(shapes) != 1:
        raise DatasetFormatError(f"{scene_dir}: expected one image shape for all scenes, found {sorted(shapes)}")
    return StimulusSet(ALLEN_SCENES_NAME, np.stack(images), None, None)


_NPY_MAGIC = b"\x93NUMPY"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def read_movie_template(file_path: Path) -> np.ndarray:
    """A natural-movie template, ``(n_frames, H, W)`` uint8.

    Allen's ``natural_movie_<n>.h5`` is a NumPy ``.npy`` file despite its suffix: allensdk's cache reads it
    with ``np.load(path, allow_pickle=False)`` (the reader ``get_natural_movie_template`` passes to its
    file cache, ``read_movie`` in ``ecephys_project_cache.py``). It is read
    that way here (never with pickles); an HDF5 file with a ``data`` dataset is accepted too. The format is
    told by the file's first bytes, not its name.

    Raises:
        DatasetFormatError: Neither format, or not uint8 ``(n_frames, H, W)`` (names the file).
    """
    with Path(file_path).open("rb") as fh:
        head = fh.read(8)
    if head.startswith(_NPY_MAGIC):
        try:
            frames = np.load(file_path, allow_pickle=False)
        except ValueError as err:  # an object array: numpy refuses to unpickle it
            raise DatasetFormatError(
                f"{file_path}: not a plain uint8 .npy array (pickled objects are never loaded): {err}"
            ) from err
        where = "the .npy array"
    elif head == _HDF5_MAGIC:
        with h5py.File(file_path, "r") as handle:
            if "data" not in handle:
                raise DatasetFormatError(f"{file_path}: expected h5 dataset 'data', found {list(handle)}")
            frames = np.asarray(handle["data"][()])
        where = "dataset 'data'"
    else:
        raise DatasetFormatError(
            f"{file_path}: expected a NumPy .npy array (Allen's natural_movie_<n>.h5 format) or an HDF5 file, "
            f"found leading bytes {head!r}"
        )
    if frames.dtype != np.uint8 or frames.ndim != 3:
        raise DatasetFormatError(
            f"{file_path}: {where} expected uint8 (n_frames, H, W), found {frames.dtype} {frames.shape}"
        )
    return frames


def load_allen_templates(cache_dir: Path, names: Sequence[str] | None = None) -> dict[str, StimulusSet]:
    """Load the real stimulus templates from an allensdk ``EcephysProjectCache`` folder.

    ``natural_movie_templates/natural_movie_1.h5`` -> ``"natural_movie_one"``,
    ``natural_movie_templates/natural_movie_3.h5`` -> ``"natural_movie_three"`` (``(n_frames, H, W)``
    uint8, :func:`read_movie_template`), and ``natural_scene_templates/natural_scene_<n>.tiff`` ->
    ``"natural_scenes"`` (row ``n`` is image ``n``). Real templates have no descriptions (``None``).

    Args:
        cache_dir: The allensdk cache folder.
        names: Templates to load (each must be present); ``None`` loads every template found.

    Returns:
        ``name -> StimulusSet`` with frames ``(n_frames, H, W)`` uint8.

    Raises:
        FileNotFoundError: If a requested template is missing, or no template is found at all.
        KeyError: If a requested name is not an Allen template name.
        DatasetFormatError: If a template has the wrong dtype/shape or scene numbers have gaps.
    """
    cache_dir = Path(cache_dir)
    known = [*ALLEN_MOVIE_FILES, ALLEN_SCENES_NAME]
    if names is not None:
        unknown = [name for name in names if name not in known]
        if unknown:
            raise KeyError(f"unknown Allen template name(s) {unknown}; known: {known}")
    wanted = known if names is None else list(names)
    result: dict[str, StimulusSet] = {}
    for name in wanted:
        if name == ALLEN_SCENES_NAME:
            scene_dir = cache_dir / ALLEN_SCENES_DIR
            if scene_dir.is_dir() and any(_SCENE_FILE_RE.match(p.name) for p in scene_dir.iterdir()):
                result[name] = _load_allen_scenes(scene_dir)
            elif names is not None:
                raise FileNotFoundError(f"{scene_dir}: no natural_scene_<n>.tiff files for {name!r}")
            else:
                logger.warning("%s: no natural scene templates; %r not loaded", scene_dir, name)
            continue
        file_path = cache_dir / ALLEN_MOVIE_FILES[name]
        if not file_path.is_file():
            if names is not None:
                raise FileNotFoundError(f"{file_path}: template for {name!r} not found")
            logger.warning("%s: not found; %r not loaded", file_path, name)
            continue
        result[name] = StimulusSet(name, read_movie_template(file_path), None, None)
    if not result:
        raise FileNotFoundError(f"{cache_dir}: no Allen stimulus templates found (looked for {known})")
    return result
