from __future__ import annotations

import pytest
import torch

from neurrator_bench.errors import ModelDirectoryError
from neurrator_bench.reference_model.config import EncoderConfig
from neurrator_bench.reference_model.encoder import NeurratorEncoder, apply_unit_mask, count_parameters


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_model(seed: int = 0) -> NeurratorEncoder:
    torch.manual_seed(seed)
    return NeurratorEncoder(EncoderConfig.tiny(n_units=12)).eval()


def test_tiny_output_shape():
    model = _tiny_model()
    out = model(torch.randn(3, 12, 10))
    assert out.shape == (3, 4, 16)
    assert out.dtype == torch.float32


def test_full_config_parameter_count_and_shape():
    model = NeurratorEncoder(EncoderConfig(n_units=800)).eval()
    # documented in encoder.py; the paper states 12.8 M for n_units ~ 800
    assert count_parameters(model) == 8_656_641
    with torch.no_grad():
        assert model(torch.randn(1, 800, 20)).shape == (1, 576, 1024)


def test_patches_differ_across_queries_and_inputs():
    model = _tiny_model()
    with torch.no_grad():
        out = model(torch.randn(2, 12, 10))
    assert not torch.allclose(out[0, 0], out[0, 1])
    assert not torch.allclose(out[0], out[1])


def test_masked_units_have_no_influence():
    model = _tiny_model()
    mask = torch.zeros(12, dtype=torch.bool)
    mask[:5] = True
    x1 = torch.randn(4, 12, 10)
    x2 = x1.clone()
    x2[:, 5:] = torch.randn(4, 7, 10) * 10
    with torch.no_grad():
        assert torch.equal(model(x1, mask), model(x2, mask))
        assert not torch.allclose(model(x1), model(x2))
        x3 = x1.clone()
        x3[:, 0] += 5.0
        assert not torch.allclose(model(x1, mask), model(x3, mask))


def test_unit_mask_zeroes_and_rescales():
    x = torch.ones(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, False, False, False]])
    out = apply_unit_mask(x, mask)
    assert torch.equal(out[0, :, 0], torch.tensor([2.0, 2.0, 0.0, 0.0]))
    assert torch.equal(out[1, :, 0], torch.tensor([4.0, 0.0, 0.0, 0.0]))
    assert apply_unit_mask(x, None) is x
    unscaled = apply_unit_mask(x, mask, rescale=False)  # EncoderConfig(mask_rescale=False): zero only
    assert torch.equal(unscaled[1, :, 0], torch.tensor([1.0, 0.0, 0.0, 0.0]))


def test_model_applies_its_own_mask_convention():
    x = torch.randn(3, 12, 10)
    mask = torch.arange(12) < 3
    torch.manual_seed(0)
    rescaling = NeurratorEncoder(EncoderConfig.tiny(n_units=12)).eval()
    torch.manual_seed(0)
    zeroing = NeurratorEncoder(EncoderConfig.tiny(n_units=12, mask_rescale=False)).eval()
    with torch.no_grad():
        assert torch.equal(rescaling(x), zeroing(x))  # same weights; no mask, no difference
        assert torch.allclose(zeroing(x, mask), rescaling(x * mask[None, :, None], None), atol=1e-6)
        assert not torch.allclose(zeroing(x, mask), rescaling(x, mask), atol=1e-3)


def test_unit_mask_broadcasts():
    model = _tiny_model()
    x = torch.randn(3, 12, 10)
    mask = torch.rand(12) > 0.5
    mask[0] = True
    with torch.no_grad():
        a = model(x, mask)
        b = model(x, mask.unsqueeze(0))
        c = model(x, mask.unsqueeze(0).expand(3, -1).float())
    assert torch.equal(a, b)
    assert torch.allclose(a, c)


def test_bad_inputs_raise():
    model = _tiny_model()
    with pytest.raises(ValueError, match="n_units=12"):
        model(torch.randn(2, 11, 10))
    with pytest.raises(ValueError, match="window_bins=10"):
        model(torch.randn(2, 12, 9))
    with pytest.raises(ValueError, match="unit_mask"):
        model(torch.randn(2, 12, 10), torch.ones(3, 12, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one active unit"):
        model(torch.randn(2, 12, 10), torch.zeros(12, dtype=torch.bool))


def test_config_validation():
    with pytest.raises(ValueError, match="conv_kernels"):
        EncoderConfig(n_units=3, conv_kernels=(3, 4))
    with pytest.raises(ValueError, match="n_heads"):
        EncoderConfig(n_units=3, d_model=30, n_heads=8)
    with pytest.raises(ValueError, match="extra"):
        EncoderConfig(n_units=3, bogus=1)


def test_hub_mixin_round_trip(tmp_path):
    model = _tiny_model(seed=3)
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded = NeurratorEncoder.from_pretrained(tmp_path)
    assert loaded.config == model.config
    x = torch.randn(2, 12, 10)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.eval()(x))


def test_from_pretrained_refuses_pickle(tmp_path):
    _tiny_model().save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ModelDirectoryError, match=r"pytorch_model\.bin.*[Pp]ickles are never loaded"):
        NeurratorEncoder.from_pretrained(tmp_path)


def test_from_pretrained_needs_config(tmp_path):
    _tiny_model().save_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ModelDirectoryError, match=r"config\.json"):
        NeurratorEncoder.from_pretrained(tmp_path)
