from __future__ import annotations

import numpy as np
import pytest
import torch

from neurrator_bench.reference_model.narrators import (
    PROMPT,
    LlavaNarrator,
    RetrievalNarrator,
    tiny_random_llava,
)


@pytest.fixture(scope="module")
def llava():
    return tiny_random_llava(grid=2, vision_hidden=16, seed=0)


def test_prompt_is_the_papers():
    assert PROMPT == "USER: <image>\n Describe this scene in one sentence.\n ASSISTANT:"


def test_narrate_equals_captioning_the_image(llava):
    model, tokenizer = llava
    narrator = LlavaNarrator.from_loaded(model, tokenizer, max_new_tokens=5, batch_size=2)
    ids = narrator.prompt_ids.tolist()
    assert ids.count(model.config.image_token_id) == 4  # one image token per patch
    images = torch.randn(3, 3, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        patches = model.model.vision_tower(images, output_hidden_states=True).hidden_states[-2][:, 1:]
    inputs = narrator.prompt_inputs(3)
    reference = model.generate(**inputs, pixel_values=images, max_new_tokens=5, do_sample=False)
    expected = [t.strip() for t in tokenizer.batch_decode(reference[:, len(ids) :], skip_special_tokens=True)]
    narrations = narrator.narrate(patches.numpy())
    assert narrations == expected
    assert all(isinstance(text, str) and text for text in narrations)
    with pytest.raises(ValueError, match=r"\(batch, 4, 16\)"):
        narrator.narrate(np.zeros((2, 9, 16), dtype=np.float32))


def test_load_by_path_offline(llava, tmp_path):
    model, tokenizer = llava
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    narrator = LlavaNarrator(str(tmp_path), max_new_tokens=3, device="cpu", local_files_only=True)
    patches = torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(3))
    loaded = narrator.narrate(patches)
    in_memory = LlavaNarrator.from_loaded(model, tokenizer, max_new_tokens=3).narrate(patches)
    assert loaded == in_memory


def test_retrieval_nearest_caption_by_cosine():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    captions = ["east", "north", "north-east", "far east"]
    narrator = RetrievalNarrator(train, captions)
    queries = np.array([[10.0, 0.1], [0.0, 3.0], [1.0, 0.9], [-1.0, -1.0], [0.0, 0.0]])
    # rows 0 and 3 tie (same direction): lowest index wins; a zero query ties everywhere -> row 0
    assert narrator.nearest(queries).tolist() == [0, 1, 2, 0, 0]
    assert narrator.narrate_pooled(queries[:3]) == ["east", "north", "north-east"]
    assert narrator.nearest(queries, chunk=2).tolist() == [0, 1, 2, 0, 0]


def test_retrieval_errors():
    with pytest.raises(ValueError, match="train_captions"):
        RetrievalNarrator(np.ones((2, 3)), ["a"])
    with pytest.raises(ValueError, match="train_pooled"):
        RetrievalNarrator(np.ones(3), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"pred_pooled.*\(n, 3\)"):
        RetrievalNarrator(np.ones((2, 3)), ["a", "b"]).nearest(np.ones((1, 4)))
