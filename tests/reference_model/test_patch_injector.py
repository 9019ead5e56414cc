from __future__ import annotations

import pytest
import torch

from neurrator_bench.reference_model.narrators import LlavaNarrator, tiny_random_llava
from neurrator_bench.reference_model.patch_injector import PatchInjector


@pytest.fixture(scope="module")
def llava():
    torch.manual_seed(0)
    model, tokenizer = tiny_random_llava(grid=2, vision_hidden=16)
    inputs = LlavaNarrator.from_loaded(model, tokenizer).prompt_inputs(3)
    images = torch.randn(3, 3, 28, 28, generator=torch.Generator().manual_seed(1))
    return model, inputs, images


def _true_patches(model, images):
    with torch.no_grad():
        out = model.model.vision_tower(images, output_hidden_states=True, return_dict=True)
    return out.hidden_states[-2][:, 1:]


def test_injecting_true_patches_equals_giving_the_image(llava):
    model, inputs, images = llava
    patches = _true_patches(model, images)
    assert patches.shape == (3, 4, 16)
    with torch.no_grad():
        reference = model(**inputs, pixel_values=images).logits
        with PatchInjector(model, patches) as injector:
            injected = model(**inputs, pixel_values=injector.pixel_values()).logits
        zeros_image = model(**inputs, pixel_values=torch.zeros_like(images)).logits
    torch.testing.assert_close(injected, reference, rtol=0, atol=1e-6)
    assert injector.calls == 1
    # not vacuous: the zero images LLaVA would otherwise see give different logits
    assert (zeros_image - reference).abs().max() > 1e-4


def test_greedy_tokens_match(llava):
    model, inputs, images = llava
    patches = _true_patches(model, images)
    kwargs = {"max_new_tokens": 6, "do_sample": False, "num_beams": 1}
    reference = model.generate(**inputs, pixel_values=images, **kwargs)
    with PatchInjector(model, patches) as injector:
        injected = model.generate(**inputs, pixel_values=injector.pixel_values(), **kwargs)
    assert torch.equal(injected, reference)


def test_hook_removed_on_exit(llava):
    model, inputs, images = llava
    injector = PatchInjector(model, torch.randn(3, 4, 16))
    with injector:
        pass
    with torch.no_grad():
        a = model(**inputs, pixel_values=images).logits
        b = model(**inputs, pixel_values=images).logits
    assert torch.equal(a, b)
    assert injector.calls == 0


def test_shape_and_batch_errors(llava):
    model, inputs, _ = llava
    injector = PatchInjector(model)
    with pytest.raises(ValueError, match=r"\(batch, 4, 16\)"):
        injector.set_patches(torch.randn(3, 5, 16))
    with pytest.raises(ValueError, match="batch_size"):
        injector.pixel_values()
    injector.set_patches(torch.randn(2, 4, 16))
    with pytest.raises(ValueError, match="ran on 3 images.*2 patch sets"), injector, torch.no_grad():
        model(**inputs, pixel_values=injector.pixel_values(3))
    with pytest.raises(ValueError, match="vision_tower"):
        PatchInjector(torch.nn.Linear(2, 2))
