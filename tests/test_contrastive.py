"""The contrastive text-image encoders (chapter 07): the loss, the model, the alignment metrics."""

import math

import pytest
import torch
import torch.nn.functional as F

from ddpm_from_scratch.data import shapes
from ddpm_from_scratch.metrics import clip_score, retrieval_top1
from ddpm_from_scratch.nn import ContrastiveConfig, ContrastiveTextImage, contrastive_loss
from ddpm_from_scratch.nn.contrastive import HARD_NEGATIVE_WEIGHT, contrastive_objective_with_contradictions
from ddpm_from_scratch.train import TrainConfig, Trainer

CONFIG = ContrastiveConfig(vocabulary=shapes.vocabulary(), max_length=16, text_dim=32, text_layers=1,
                           image_size=16, image_width=8, image_features=32, embed_dim=16)


def test_the_loss_is_the_mean_of_the_two_cross_entropies_written_out():
    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    by_hand = 0.0
    for i in range(5):  # each image picks its caption among 5, each caption its image among 5
        by_hand -= logits[i].log_softmax(0)[i] / 10 + logits[:, i].log_softmax(0)[i] / 10
    assert contrastive_loss(logits).item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_identical_captions_are_matches_for_both_images():
    text = torch.tensor([[2, 5, 6], [2, 5, 6], [2, 7, 0]])  # captions 0 and 1 are the same words
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    swapped = logits[[1, 0, 2]]  # image 0 prefers caption 1 and image 1 caption 0: equally right
    assert contrastive_loss(swapped, text).item() == pytest.approx(contrastive_loss(logits, text).item(), rel=1e-6)
    # without the ids the swap is a mistake, and costs more
    assert contrastive_loss(swapped).item() > contrastive_loss(logits).item() + 1


def test_hard_negatives_join_each_image_s_choices_and_nothing_else():
    logits = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
    negatives = torch.randn(4, 1, generator=torch.Generator().manual_seed(2))
    by_hand = 0.0
    for i in range(4):  # image i picks its caption among 4 + its own wrong one; captions pick among 4 images
        by_hand -= torch.cat([logits[i], negatives[i]]).log_softmax(0)[i] / 8 + logits[:, i].log_softmax(0)[i] / 8
    assert contrastive_loss(logits, None, negatives).item() == pytest.approx(by_hand.item(), rel=1e-6)
    # a negative far below every caption changes nothing: how a batch marks "no contradiction could be made"
    far = torch.full((4, 1), -1e4)
    assert contrastive_loss(logits, None, far).item() == pytest.approx(contrastive_loss(logits).item(), rel=1e-6)


def test_the_hard_negative_objective_adds_the_two_way_choice_of_the_images_that_have_a_contradiction():
    """scenes_text_hard's objective, written out on fixed unit vectors: CLIP's loss with each image's wrong caption
    among its choices, plus HARD_NEGATIVE_WEIGHT times -log p(own | own, wrong) averaged over the images that
    have a contradiction; an image without one adds nothing."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(3)
    images, captions, wrong = (F.normalize(torch.randn(4, 8, generator=g), dim=-1) for _ in range(3))
    text, contradiction = torch.arange(4)[:, None] + 2, torch.arange(4)[:, None] + 7  # all different captions
    made = torch.tensor([True, False, True, True])
    model = SimpleNamespace(encode_image=lambda x: x, scale=lambda: torch.tensor(10.0),
                            encode_text=lambda ids: captions if ids is text else wrong)
    batch = {"images": images, "text": text, "contradiction": contradiction, "contradicts": made}
    logits, own_wrong = 10 * images @ captions.T, 10 * (images * wrong).sum(-1)
    by_hand, two_way = 0.0, 0.0
    for i in range(4):
        row = torch.cat([logits[i], own_wrong[i:i + 1]]) if made[i] else logits[i]
        by_hand -= row.log_softmax(0)[i] / 8 + logits[:, i].log_softmax(0)[i] / 8
        if made[i]:  # the two-way choice: own caption or its contradiction
            two_way -= torch.stack([logits[i, i], own_wrong[i]]).log_softmax(0)[0] / 3
    expected = by_hand + HARD_NEGATIVE_WEIGHT * two_way
    got = contrastive_objective_with_contradictions(model, batch, None)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert HARD_NEGATIVE_WEIGHT > 0


def test_encoders_give_unit_vectors_and_logits_are_scaled_cosines():
    torch.manual_seed(0)
    model = ContrastiveTextImage(CONFIG)
    images, captions, _ = shapes.make_scenes(6, image_size=16, seed=1)
    ids = model.tokenizer(captions)
    assert torch.allclose(model.encode_image(images).norm(dim=1), torch.ones(6), atol=1e-5)
    assert torch.allclose(model.encode_text(ids).norm(dim=1), torch.ones(6), atol=1e-5)
    logits = model(images, ids)
    assert logits.shape == (6, 6)
    assert logits.abs().max() <= 1 / CONFIG.init_temperature + 1e-4  # |cos| <= 1, times s = 1 / 0.07
    with pytest.raises(ValueError, match="3 images but 6 captions"):
        model(images[:3], ids)


def test_weights_for_another_vocabulary_are_refused():
    torch.manual_seed(0)
    weights = ContrastiveTextImage(CONFIG).state_dict()
    other = ContrastiveTextImage(ContrastiveConfig(**{**CONFIG.__dict__, "vocabulary": CONFIG.vocabulary + ("zebra",)}))
    with pytest.raises(ValueError, match="different vocabulary"):
        other.load_state_dict(weights)


def test_retrieval_and_clip_score_on_encoders_built_to_agree():
    """A model whose two encoders are the same lookup: every caption finds its image, cosines are 1."""
    class Lookup(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def encode_image(self, images):  # the image's index, written into its first pixel
            return F.one_hot(images[:, 0, 0, 0].long(), 8).float()

        def encode_text(self, ids):
            return F.one_hot(ids[:, 1], 8).float()

    images = torch.zeros(8, 1, 2, 2)
    images[:, 0, 0, 0] = torch.arange(8).float()
    text = torch.stack([torch.full((8,), 2), torch.arange(8)], dim=1)
    assert retrieval_top1(Lookup(), images, text) == 1.0
    assert clip_score(Lookup(), images, text) == pytest.approx(100.0)
    assert retrieval_top1(Lookup(), images.flip(0), text) == 0.0  # every image paired with another caption
    assert clip_score(Lookup(), images.flip(0), text) == pytest.approx(0.0)


def test_a_short_contrastive_training_retrieves_far_above_chance():
    torch.manual_seed(0)
    model = ContrastiveTextImage(CONFIG)

    def sample_batch(batch_size, generator):
        attributes = shapes.random_scenes(batch_size, generator, heldout=None)
        return {"images": shapes.render(attributes, 16, generator),
                "text": model.tokenizer(shapes.training_captions(attributes, generator, drop_caption=0.0))}

    def loss_fn(m, batch, generator):
        return contrastive_loss(m(batch["images"], batch["text"]), batch["text"])

    trainer = Trainer(model, loss_fn, sample_batch, TrainConfig(steps=150, batch_size=64, lr=2e-3, warmup_steps=10,
                                                                 ema_decay=0.9, seed=0), device="cpu").fit(progress=False)
    images, captions, _ = shapes.make_scenes(100, image_size=16, seed=7, heldout=None)
    ids = model.tokenizer(captions)
    top1 = retrieval_top1(trainer.model, images, ids)
    assert top1 > 10 / 100, top1
    assert trainer.losses[-1] < trainer.losses[0] - math.log(2)
