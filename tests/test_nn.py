"""Networks: shapes, use of every input, clear errors, rebuild from a config."""

import pytest
import torch

from ddpm_from_scratch.nn import (MODELS, Classifier, ClassifierConfig, MLPConfig, MLPDenoiser, UNet, UNetConfig,
                                  build_model, keep_attention_maps, sinusoidal_embedding)
from ddpm_from_scratch.nn.blocks import MultiHeadAttention, ResBlock, attention_reference
from ddpm_from_scratch.checkpoints import model_spec

SMALL = UNetConfig(image_channels=1, image_size=8, base_channels=16, channel_mults=(1, 2), num_res_blocks=1,
                   attention_resolutions=(4,), num_heads=2, num_groups=4)


def randomise(model):
    """Zero-initialised output layers make a fresh network output 0; perturb every weight to test its wiring."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_sinusoidal_embedding_separates_steps_and_has_unit_scale():
    e = sinusoidal_embedding(torch.arange(1000), 64)
    assert e.shape == (1000, 64)
    assert torch.allclose(e.pow(2).sum(1), torch.full((1000,), 32.0), atol=1e-3)  # sin^2 + cos^2 = 1 per pair
    assert (torch.cdist(e[:-1:50], e[1::50]) > 1e-3).all()


def test_unet_keeps_the_image_shape_and_depends_on_the_step():
    torch.manual_seed(0)
    unet = randomise(UNet(SMALL)).eval()
    x = torch.randn(3, 1, 8, 8)
    out0 = unet(x, torch.tensor([0, 0, 0]))
    out1 = unet(x, torch.tensor([500, 500, 500]))
    assert out0.shape == x.shape
    assert (out0 - out1).abs().max() > 1e-3  # a noise predictor that ignored t would fail here
    assert torch.allclose(unet(x, 7), unet(x, torch.full((3,), 7)))  # an int t is broadcast


def test_unet_uses_each_optional_condition():
    torch.manual_seed(0)
    config = UNetConfig(**{**SMALL.__dict__, "num_classes": 10, "context_dim": 12, "pooled_dim": 6,
                           "cond_channels": 1})
    unet = randomise(UNet(config)).eval()
    x, t, low = torch.randn(2, 1, 8, 8), torch.tensor([3, 3]), torch.randn(2, 1, 4, 4)
    context, mask = torch.randn(2, 5, 12), torch.tensor([[True] * 5, [True, True, False, False, False]])
    base = dict(class_labels=torch.tensor([1, 2]), context=context, context_mask=mask, pooled=torch.randn(2, 6),
                low_res=low)
    ref = unet(x, t, **base)
    for key, other in [("class_labels", torch.tensor([4, 5])), ("context", torch.randn(2, 5, 12)),
                       ("pooled", torch.randn(2, 6)), ("low_res", torch.randn(2, 1, 4, 4))]:
        assert (unet(x, t, **{**base, key: other}) - ref).abs().max() > 1e-4, key
    # masked tokens are ignored: changing a padded token of example 1 leaves it unchanged
    changed = context.clone()
    changed[1, 3] += 10
    out = unet(x, t, **{**base, "context": changed})
    assert torch.allclose(out[1], ref[1], atol=1e-5)


def test_wrong_shapes_get_errors_that_say_what_to_do():
    unet = UNet(SMALL)
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\).*unsqueeze\(1\)"):
        unet(torch.randn(2, 8, 8), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="1-channel"):
        unet(torch.randn(2, 3, 8, 8), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="one step per image"):
        unet(torch.randn(2, 1, 8, 8), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        MLPDenoiser()(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="Classifier expects"):
        Classifier()(torch.randn(4, 16, 16))


def test_classifier_embedding_is_the_network_without_its_last_layer():
    torch.manual_seed(0)
    clf = Classifier(ClassifierConfig(feature_dim=20)).eval()
    x = torch.randn(5, 1, 16, 16)
    assert clf.embed(x).shape == (5, 20)
    assert torch.allclose(clf(x), clf.head(clf.embed(x)))
    probs = clf.predict(x, batch_size=2)
    assert torch.allclose(probs.sum(1), torch.ones(5))


@pytest.mark.parametrize("model", [UNet(SMALL), MLPDenoiser(MLPConfig(hidden=16)), Classifier()])
def test_models_rebuild_from_their_recorded_config(model):
    spec = model_spec(model)
    rebuilt = build_model(spec["model_class"], spec["model_config"])
    rebuilt.load_state_dict(model.state_dict())  # same architecture, parameter for parameter
    assert type(rebuilt) is type(model)
    with pytest.raises(ValueError, match="known"):
        build_model("Transformer", {})
    assert set(MODELS) >= {"UNet", "MLPDenoiser", "Classifier"}


def test_fast_attention_agrees_with_the_written_out_formula():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 9, 8), torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    for m in (None, mask):
        reference, weights = attention_reference(q, k, v, m)
        fast = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=None if m is None else m[:, None, None, :])
        assert torch.allclose(fast, reference, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 9)) and (weights[1, ..., 3:] == 0).all()
    # the layer gives the same output either way; the map is kept only when asked for
    layer = randomise(MultiHeadAttention(16, 4, context_dim=6)).eval()
    x, context = torch.randn(2, 9, 16), torch.randn(2, 5, 6)
    out = layer(x, context, mask)
    assert layer.last_weights is None
    with keep_attention_maps(layer):
        kept = layer(x, context, mask)
    assert torch.allclose(out, kept, atol=1e-5) and layer.last_weights.shape == (2, 4, 9, 5)
    assert not layer.keep_weights


def test_a_res_block_without_an_embedding_is_a_plain_residual_block():
    torch.manual_seed(0)
    block = randomise(ResBlock(8, 16, emb_dim=None, groups=4))
    x = torch.randn(2, 8, 6, 6)
    h = block.conv1(torch.nn.functional.silu(block.norm1(x)))
    h = block.conv2(torch.nn.functional.silu(block.norm2(h)))
    assert torch.allclose(block(x), block.skip(x) + h, atol=1e-6)  # h = skip(x) + F(x), no embedding term


def test_generative_models_say_what_they_sample():
    assert UNet(SMALL).sample_shape == (1, 8, 8) and UNet(SMALL).data_range == (-1.0, 1.0)
    assert MLPDenoiser(MLPConfig(data_dim=3)).sample_shape == (3,) and MLPDenoiser().data_range is None
    latent = UNet(UNetConfig(**{**SMALL.__dict__, "image_channels": 4, "data_range": (-7.0, 7.0)}))
    assert latent.sample_shape == (4, 8, 8) and latent.data_range == (-7.0, 7.0)
    with pytest.raises(ValueError, match="data_range"):
        UNet(UNetConfig(**{**SMALL.__dict__, "data_range": (1.0, -1.0)}))


def test_a_fresh_residual_block_is_its_skip_path_and_learns_a_change_on_top():
    """h = skip(x) + F(x) with F's last convolution starting at zero: a new block passes its input through
    (the identity when the widths match), and once F's weights move the output is skip(x) plus that change."""
    from ddpm_from_scratch.nn.blocks import ResBlock

    torch.manual_seed(0)
    x, emb = torch.randn(2, 8, 6, 6), torch.randn(2, 16)
    same = ResBlock(8, 8, emb_dim=16, groups=4)
    assert torch.equal(same(x, emb), x)
    wider = ResBlock(8, 12, emb_dim=16, groups=4)
    assert torch.allclose(wider(x, emb), wider.skip(x))
    torch.nn.init.normal_(same.conv2.weight)
    change = same.conv2(torch.nn.functional.silu(same.norm2(same.conv1(torch.nn.functional.silu(same.norm1(x)))
                                                             + same.emb(torch.nn.functional.silu(emb))[:, :, None, None])))
    assert torch.allclose(same(x, emb), x + change, atol=1e-5)


def test_a_fresh_attention_block_passes_its_input_through_and_adds_what_it_attends_to():
    """Self- and cross-attention are both residual, h = x + Attn(norm(x)), with output projections starting at
    zero: a new block is the identity, with or without text, and a trained one adds to its input."""
    from ddpm_from_scratch.nn.blocks import AttentionBlock

    torch.manual_seed(0)
    x, context = torch.randn(2, 8, 4, 4), torch.randn(2, 5, 12)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    block = AttentionBlock(8, num_heads=2, groups=4, context_dim=12)
    assert torch.equal(block(x), x) and torch.equal(block(x, context, mask), x)
    torch.nn.init.normal_(block.cross_attention.out.weight)  # only the cross-attention learns something
    tokens = x.flatten(2).transpose(1, 2)
    added = block.cross_attention(block.norm_cross(tokens), context, mask)
    assert torch.allclose(block(x, context, mask), (tokens + added).transpose(1, 2).reshape(x.shape), atol=1e-5)


def test_a_channels_last_copy_computes_the_same_and_leaves_the_model_alone():
    from ddpm_from_scratch import diffusion, pipeline
    from ddpm_from_scratch.nn import channels_last_copy
    from ddpm_from_scratch.schedules import NoiseSchedule

    torch.manual_seed(0)
    model = randomise(UNet(UNetConfig(image_channels=3, image_size=8, base_channels=16, channel_mults=(1, 2),
                                      num_res_blocks=1, attention_resolutions=(4,)))).eval()
    copy = channels_last_copy(model)
    assert copy.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.conv_in.weight.is_contiguous() and not model.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    x, t = torch.randn(4, 3, 8, 8), torch.tensor([0, 5, 20, 49])
    with torch.no_grad():
        assert torch.allclose(copy(x, t), model(x, t), atol=1e-5)
    # the bulk sampler's samples are the same in either layout
    schedule = NoiseSchedule.cosine(50)
    fast = pipeline.generate(model, schedule, 6, diffusion.Sampling(steps=5), batch_size=4)
    generator = torch.Generator().manual_seed(0)  # generate's batches and seed, on the model as it is
    plain = torch.cat([diffusion.sample(model, schedule, n, sampler="ddim", steps=5, generator=generator,
                                        progress=False) for n in (4, 2)]).clamp(-1, 1)
    assert torch.allclose(fast, plain, atol=1e-4) and fast.abs().max() > 0.1
