from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from neurrator_bench.builders.captions import (
    DEFAULT_CAPTIONER,
    GROUND_TRUTH_CAPTIONER,
    Blip2Captioner,
    Captioner,
    GroundTruthCaptioner,
    load_captioner,
)
from tests.tiny_models import SPECIAL_TOKENS, TINY_WORDS, save_tiny_blip2


@pytest.fixture(scope="module")
def blip2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_blip2(tmp_path_factory.mktemp("tiny_blip2") / "blip2")


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 20, 30), dtype=np.uint8)


def test_default_id() -> None:
    assert DEFAULT_CAPTIONER == "Salesforce/blip2-opt-2.7b"


def test_ground_truth_returns_descriptions() -> None:
    captioner = load_captioner(GROUND_TRUTH_CAPTIONER)
    assert isinstance(captioner, GroundTruthCaptioner) and isinstance(captioner, Captioner)
    assert captioner.captioner_id == "ground-truth" and captioner.revision is None
    assert captioner.caption(_frames(2), ["a dog", "a tree"]) == ["a dog", "a tree"]


def test_ground_truth_errors() -> None:
    captioner = load_captioner(GROUND_TRUTH_CAPTIONER)
    with pytest.raises(ValueError, match=r"no ground-truth descriptions.*real Allen.*BLIP-2 id or path"):
        captioner.caption(_frames(2), None)
    with pytest.raises(ValueError, match="descriptions: expected 2 .one per frame., found 1"):
        captioner.caption(_frames(2), ["only one"])


def test_blip2_captions_by_path(blip2_dir: Path) -> None:
    frames = _frames(3)
    batched = load_captioner(str(blip2_dir), batch_size=3, max_new_tokens=6)
    assert isinstance(batched, Blip2Captioner) and isinstance(batched, Captioner)
    assert batched.captioner_id == str(blip2_dir) and batched.revision is None
    assert type(batched.processor.image_processor).__name__.endswith("Pil")
    first = batched.caption(frames, None)
    assert len(first) == 3 and all(isinstance(c, str) for c in first)
    assert any(first), "the tiny seeded model should produce at least one non-empty caption"
    words = set(TINY_WORDS)
    for caption in first:
        assert caption == caption.strip()
        assert set(caption.split()) <= words  # prompt tokens (<image>, </s>) are stripped
        assert len(caption.split()) <= 6
        assert not any(tok in caption for tok in SPECIAL_TOKENS)
    assert batched.caption(frames, None) == first  # deterministic (greedy)
    one_by_one = load_captioner(str(blip2_dir), batch_size=1, max_new_tokens=6)
    assert one_by_one.caption(frames, None) == first
    assert [one_by_one.caption(frames[i : i + 1], None)[0] for i in range(3)] == first


def test_blip2_matches_direct_generate(blip2_dir: Path) -> None:
    import torch
    from PIL import Image
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    frames = _frames(2, seed=5)
    captions = load_captioner(str(blip2_dir), max_new_tokens=5).caption(frames, None)
    processor = Blip2Processor.from_pretrained(blip2_dir)
    model = Blip2ForConditionalGeneration.from_pretrained(blip2_dir).eval()
    # frames are padded to a square of mid-gray first (builders.frame_images), here with numpy's pad: 20 x 30
    padded = [np.pad(f, ((5, 5), (0, 0)), constant_values=127) for f in frames]
    pixels = processor(images=[Image.fromarray(f).convert("RGB") for f in padded], return_tensors="pt")
    with torch.no_grad():
        ids = model.generate(**pixels, max_new_tokens=5, do_sample=False)
    assert captions == [t.strip() for t in processor.batch_decode(ids, skip_special_tokens=True)]


def test_blip2_rejects_bad_frames_and_options(blip2_dir: Path) -> None:
    captioner = load_captioner(str(blip2_dir), max_new_tokens=2)
    with pytest.raises(ValueError, match=r"frames: expected uint8 array \(n_frames, H, W\), found uint8 \(4, 4\)"):
        captioner.caption(np.zeros((4, 4), np.uint8), None)
    with pytest.raises(ValueError, match="batch_size and max_new_tokens"):
        load_captioner(str(blip2_dir), batch_size=0)


def test_blip2_reads_hub_style_split_processor_files(blip2_dir: Path, tmp_path: Path) -> None:
    """Hub BLIP-2 repos keep the image processor config apart, in preprocessor_config.json."""
    split = shutil.copytree(blip2_dir, tmp_path / "split")
    processor_config = json.loads((split / "processor_config.json").read_text())
    image_config = processor_config.pop("image_processor")
    (split / "preprocessor_config.json").write_text(json.dumps({**image_config, "processor_class": "Blip2Processor"}))
    (split / "processor_config.json").write_text(json.dumps(processor_config))
    frames = _frames(2, seed=2)
    expected = load_captioner(str(blip2_dir), max_new_tokens=4).caption(frames, None)
    captioner = load_captioner(str(split), max_new_tokens=4)
    assert type(captioner.processor.image_processor).__name__ == "BlipImageProcessorPil"
    assert captioner.caption(frames, None) == expected
