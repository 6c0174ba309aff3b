"""The tokenizer, the text encoder, the text-conditioned U-Net, guidance and text-to-image."""

import warnings

import pytest
import torch

from ddpm_from_scratch import diffusion
from ddpm_from_scratch.data import shapes
from ddpm_from_scratch.nn import (TextConditionedUNet, TextEncoder, TextUNetConfig, Tokenizer, UNet, UNetConfig,
                                  keep_attention_maps)
from ddpm_from_scratch.pipeline import text_to_image
from ddpm_from_scratch.schedules import NoiseSchedule
from ddpm_from_scratch.checkpoints import CheckpointError, describe, load_model, model_spec, save_checkpoint
from ddpm_from_scratch.train import Trainer, TrainConfig

VOCABULARY = ("a", "red", "blue", "circle", "square", "in", "the", "top", "left")


def small_model(**overrides):
    config = TextUNetConfig(vocabulary=VOCABULARY, max_length=8, text_dim=16, text_layers=1, text_heads=2,
                            base_channels=8, channel_mults=(1, 2), attention_resolutions=(8,), num_heads=2,
                            **overrides)
    torch.manual_seed(0)
    model = TextConditionedUNet(config)
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)  # zero-initialised: make the output depend on x
    for module in model.modules():  # zero-initialised attention outputs and res blocks too: let the text through
        for name in ("out", "conv2"):
            if isinstance(getattr(module, name, None), (torch.nn.Linear, torch.nn.Conv2d)):
                torch.nn.init.normal_(getattr(module, name).weight, std=0.1)
    return model


def test_tokenizer_lowercases_drops_punctuation_and_pads():
    tokenizer = Tokenizer(VOCABULARY, max_length=8)
    ids = tokenizer(["A RED circle, top-left!", ""])
    assert ids.shape == (2, 8)
    assert tokenizer.decode(ids[0]) == "a red circle top left"
    assert ids[1].tolist() == [tokenizer.ids["<start>"]] + [0] * 7  # the empty text is <start> alone


def test_unknown_words_are_named_in_a_warning_and_become_unk():
    tokenizer = Tokenizer(VOCABULARY)
    with pytest.warns(UserWarning, match=r"unknown words \['purple', 'star'\]"):
        ids = tokenizer("a purple star")
    assert ids[0, 2] == ids[0, 3] == tokenizer.ids["<unk>"]


def test_an_overlong_prompt_is_truncated_with_a_warning():
    tokenizer = Tokenizer(VOCABULARY, max_length=4)
    with pytest.warns(UserWarning, match="only the first 3"):
        ids = tokenizer("a red circle in the top left")
    assert tokenizer.decode(ids[0]) == "a red circle"


def test_a_vocabulary_with_a_repeated_word_is_refused():
    with pytest.raises(ValueError, match="twice"):
        Tokenizer(("red", "red"))


def test_text_encoder_ignores_padding():
    torch.manual_seed(0)
    encoder = TextEncoder(vocab_size=12, max_length=10, dim=16, num_layers=2, num_heads=2).eval()
    short = torch.tensor([[2, 5, 6, 0, 0]])
    long = torch.tensor([[2, 5, 6, 0, 0, 0, 0, 0, 0, 0]])
    tokens_short, mask_short, pooled_short = encoder(short)
    tokens_long, _, pooled_long = encoder(long)
    assert torch.allclose(pooled_short, pooled_long, atol=1e-6)
    assert torch.allclose(tokens_short[:, :3], tokens_long[:, :3], atol=1e-6)
    assert mask_short.tolist() == [[True, True, True, False, False]]
    other = encoder(torch.tensor([[2, 7, 6, 0, 0]]))[2]
    assert not torch.allclose(pooled_short, other)  # the words matter


@pytest.mark.parametrize("text_entry", ["cross_attention", "pooled"])
def test_the_noise_prediction_depends_on_the_text(text_entry):
    model = small_model(text_entry=text_entry).eval()
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([10, 10])
    red, blue = model.tokenizer(["a red circle"] * 2), model.tokenizer(["a blue circle"] * 2)
    out = model(x, t, text=red)
    assert out.shape == x.shape
    assert not torch.allclose(out, model(x, t, text=blue))
    assert torch.allclose(model(x, t), model(x, t, text=model.tokenizer(["", ""])))  # None = empty text


def test_cross_attention_reads_the_words_and_skips_padding():
    model = small_model().eval()
    with keep_attention_maps(model):
        model(torch.randn(1, 3, 16, 16), torch.tensor([5]), text=model.tokenizer(["a red circle"]))
    weights = [m.cross_attention.last_weights for m in model.unet.modules() if hasattr(m, "cross_attention")]
    assert weights, "no cross-attention layer ran"
    for w in weights:  # (B, heads, pixels, tokens): 4 real tokens (<start> a red circle), the rest padding
        assert torch.allclose(w.sum(-1), torch.ones(()))
        assert (w[..., 4:] == 0).all()


def test_bad_conditions_get_clear_errors():
    model = small_model()
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([1, 2])
    with pytest.raises(TypeError, match="tokenizer"):
        model(x, t, text=["a red circle"] * 2)
    with pytest.raises(ValueError, match="shape"):
        model(x, t, text=model.tokenizer(["a red circle"]))
    with pytest.raises(ValueError, match="token ids"):
        model(x, t, text=torch.full((2, 8), 99))
    with pytest.raises(ValueError, match="vocabulary"):
        TextConditionedUNet(TextUNetConfig())


def test_weights_from_another_vocabulary_are_refused(tmp_path):
    model = small_model()
    other = TextConditionedUNet(TextUNetConfig(**{**model.config.__dict__,
                                                  "vocabulary": VOCABULARY[:-1] + ("right",)}))
    with pytest.raises(ValueError, match="different vocabulary"):
        other.load_state_dict(model.state_dict())


def test_a_checkpoint_whose_vocabulary_was_changed_is_refused(tmp_path):
    model = small_model()
    path = save_checkpoint({**model_spec(model), "ema": model.state_dict()}, tmp_path / "text.pt")
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["vocabulary"] = ["a", "blue", "red"] + list(VOCABULARY[3:])  # two words swapped
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="different vocabulary"):
        load_model(path)


def test_a_trained_text_model_round_trips_through_a_checkpoint(tmp_path):
    model = small_model()
    sample_batch = shapes.captioned_batches(model.tokenizer)
    schedule = NoiseSchedule.cosine(100)

    def loss_fn(m, batch, generator):
        return diffusion.denoising_loss(m, schedule, batch, generator)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small vocabulary does not know every caption word
        trainer = Trainer(model, loss_fn, sample_batch, TrainConfig(steps=3, batch_size=4), device="cpu",
                          header=describe(model, schedule))
        trainer.fit(progress=False)
    path = trainer.export(tmp_path / "text.pt")
    loaded = load_model(path)
    assert loaded.tokenizer.tokens == model.tokenizer.tokens
    x, t, text = torch.randn(1, 3, 16, 16), torch.tensor([3]), model.tokenizer(["a red circle"])
    assert torch.allclose(loaded(x, t, text=text), trainer.ema.eval()(x, t, text=text))


def test_classifier_free_guidance_mixes_the_two_predictions():
    calls = []

    def fake(x, t, text=None):
        calls.append(text)
        return torch.full_like(x, 1.0 if text is None else 3.0)

    x, t = torch.zeros(2, 1), torch.tensor([0, 0])
    guided = diffusion.guided_noise_predictor(fake, text=torch.ones(2, 1, dtype=torch.long), guidance_scale=2.5)
    assert torch.allclose(guided(x, t), torch.full_like(x, 1.0 + 2.5 * (3.0 - 1.0)))  # eps_u + w (eps_c - eps_u)
    calls.clear()
    diffusion.guided_noise_predictor(fake, torch.ones(2, 1, dtype=torch.long), 1.0)(x, t)
    assert len(calls) == 1  # w = 1: the conditional prediction alone, one network call


def test_guidance_scale_zero_samples_the_unconditional_model_and_one_the_conditional():
    model = small_model().eval()
    schedule = NoiseSchedule.cosine(50)
    text = model.tokenizer(["a red circle", "a blue square"])
    run = lambda **kw: diffusion.sample(model, schedule, (2, 3, 16, 16), sampler="ddim", steps=5, progress=False,
                                        generator=torch.Generator().manual_seed(0), **kw)
    unconditional = run()
    assert torch.allclose(run(text=text, guidance_scale=0.0), unconditional, atol=1e-5)
    assert not torch.allclose(run(text=text, guidance_scale=1.0), unconditional, atol=1e-3)
    assert not torch.allclose(run(text=text, guidance_scale=3.0), run(text=text, guidance_scale=1.0))
    with pytest.raises(ValueError, match="needs a condition"):
        run(guidance_scale=2.0)
    with pytest.raises(ValueError, match="one caption per sample"):
        run(text=text[:1])


def test_text_to_image_handles_empty_unknown_and_wrong_models():
    model = small_model().eval()
    schedule = NoiseSchedule.cosine(50)
    with pytest.warns(UserWarning, match="purple"):
        images = text_to_image(model, schedule, ["a red circle", "", "a purple circle"], steps=3)
    assert images.shape == (3, 3, 16, 16) and images.abs().max() <= 1
    with pytest.raises(TypeError, match="not text-conditioned"):
        text_to_image(UNet(UNetConfig(image_channels=3, base_channels=8, channel_mults=(1, 2))), schedule, ["a"])
    with pytest.raises(ValueError, match="no prompts"):
        text_to_image(model, schedule, [])


def test_a_prompt_in_another_script_is_named_instead_of_silently_read_as_empty():
    tokenizer = Tokenizer(("a", "red", "circle"))
    with pytest.warns(UserWarning, match=r"一个红色的圆.*outside a-z.*reads as empty"):
        ids = tokenizer(["一个红色的圆"])
    assert ids[0, 1] == 0  # nothing but <start>: the unconditional prompt, and the reader was told
    with pytest.warns(UserWarning) as caught:
        tokenizer(["a red círcle"])
    assert any("outside a-z" in str(w.message) for w in caught)


def test_guidance_in_one_batched_call_equals_the_two_separate_predictions():
    model = small_model().eval()
    calls = []
    model.register_forward_hook(lambda module, args, kwargs_or_out=None: calls.append(args[0].shape[0]))
    x, t = torch.randn(3, 3, 16, 16), torch.tensor([5, 20, 40])
    text = model.tokenizer(["a red circle", "a blue square in the top left", "circle"])
    with torch.no_grad():
        eps_cond, eps_uncond = model(x, t, text=text), model(x, t)
        calls.clear()
        guided = diffusion.guided_noise_predictor(model, text, guidance_scale=3.0, batched=True)(x, t)
        assert calls == [6]  # one call, on the doubled batch
        calls.clear()
        assert torch.allclose(diffusion.guided_noise_predictor(model, text, guidance_scale=3.0)(x, t), guided,
                              atol=1e-5)
        assert calls == [3, 3]  # on the CPU by default: two calls, which measured faster there
    assert torch.allclose(guided, eps_uncond + 3.0 * (eps_cond - eps_uncond), atol=1e-5)
