"""A text encoder trained on its own, by matching captions to images (CLIP-style; chapter 07).

Chapter 03 trained the text encoder together with the noise predictor. Stable Diffusion does
not: its text encoder is CLIP's, trained beforehand on caption-image pairs and then frozen.
The idea (Radford et al. 2021): two encoders map a batch of B images and their B captions to
unit vectors; the B x B matrix of cosine similarities, times a learned scale, is read as
logits; the loss asks each image to pick out its own caption among the B (a cross-entropy
over each row) and each caption its own image (over each column):

    L = 1/2 [ CE(s * I T^T, diag) + CE(s * T I^T, diag) ]

Nothing tells the encoders what "left of" or "red" means; words that change which image fits
a caption must change the text vector, so the text encoder learns them. Afterwards the text
encoder (its token vectors, not only the sentence vector) conditions the latent generator, and
the pair of encoders scores how well a generated image fits its prompt (a CLIP-score).

Captions here are not unique in a batch ("a red circle" may come twice): a caption identical
to another row's counts as a match for both images (the targets are spread over them), so the
loss does not push apart pairs that are equally right.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import Classifier, ClassifierConfig
from .text import TextEncoder, Tokenizer


@dataclass
class ContrastiveConfig:
    vocabulary: tuple = ()          # the captions' words (the tokenizer is rebuilt from it)
    max_length: int = 32            # tokens per text, <start> included
    text_dim: int = 128
    text_layers: int = 3
    text_heads: int = 4
    image_channels: int = 3
    image_size: int = 32
    image_width: int = 32           # channels of the image encoder's first stage (a Classifier, positions kept)
    image_features: int = 256
    embed_dim: int = 128            # the shared space both encoders map into
    init_temperature: float = 0.07  # CLIP's initial 1 / s


class ContrastiveTextImage(nn.Module):
    """Two encoders into one space: ``forward(images, text)`` -> logits (B, B), images against captions."""

    predicts_noise = False

    def __init__(self, config: ContrastiveConfig = ContrastiveConfig()):
        super().__init__()
        c = self.config = config
        if not c.vocabulary:
            raise ValueError("ContrastiveConfig needs the captions' vocabulary, e.g. data.scenes.vocabulary()")
        self.tokenizer = Tokenizer(c.vocabulary, c.max_length)
        self.text_encoder = TextEncoder(len(self.tokenizer), c.max_length, c.text_dim, c.text_layers, c.text_heads)
        self.text_projection = nn.Linear(c.text_dim, c.embed_dim, bias=False)
        self.image_encoder = Classifier(ClassifierConfig(
            image_channels=c.image_channels, image_size=c.image_size, num_classes=c.embed_dim,
            width=c.image_width, feature_dim=c.image_features, dropout=0.0, pool="flatten"))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / c.init_temperature)))  # s = exp(logit_scale)
        self.register_buffer("vocabulary_checksum", torch.tensor(self.tokenizer.checksum()))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, L) -> unit vectors (B, embed_dim)."""
        _, _, pooled = self.text_encoder(ids)
        return F.normalize(self.text_projection(pooled), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) in [-1, 1] -> unit vectors (B, embed_dim)."""
        return F.normalize(self.image_encoder(images), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=math.log(100)).exp()  # s; CLIP caps it at 100

    def forward(self, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        if images.shape[0] != text.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {text.shape[0]} captions: the pairs must line up")
        return self.scale() * self.encode_image(images) @ self.encode_text(text).T  # (B images, B captions)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        saved = state_dict.get("vocabulary_checksum")
        if saved is not None and int(saved) != self.tokenizer.checksum():
            raise ValueError("these weights were trained with a different vocabulary than this model's tokenizer "
                             "(vocabulary checksums differ): token ids would mean other words")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def contrastive_loss(logits: torch.Tensor, text: torch.Tensor | None = None,
                     negatives: torch.Tensor | None = None) -> torch.Tensor:
    """The symmetric cross-entropy of CLIP on logits (B images, B captions); pair i is the match of row i.

    With ``text`` (the token ids), captions identical to caption j are matches too: row i's target
    spreads evenly over every caption equal to caption i (and likewise for the columns).
    ``negatives`` (B, K): logits of image i against K more captions that are all wrong for it, hard
    negatives (NegCLIP, Yuksekgonul et al. 2023), added to the choices of row i only.
    """
    if text is None:
        targets = torch.eye(len(logits), device=logits.device)
    else:
        targets = (text[:, None, :] == text[None, :, :]).all(-1).float()  # same ids = same caption
    targets = targets / targets.sum(1, keepdim=True)  # symmetric: the same spread for the images and the captions
    rows, row_targets = logits, targets
    if negatives is not None:  # image i chooses among the B captions and its K wrong ones (target 0)
        rows, row_targets = torch.cat([logits, negatives], 1), F.pad(targets, (0, negatives.shape[1]))
    return 0.5 * (F.cross_entropy(rows, row_targets) + F.cross_entropy(logits.T, targets))


# the weight of the two-way term of the objective with hard negatives (own caption or its contradiction)
HARD_NEGATIVE_WEIGHT = 2.0


def contrastive_objective(model, batch, generator):
    """CLIP's loss on a batch of caption-image pairs (``contrastive_loss``); repeated captions are shared matches."""
    return contrastive_loss(model(batch["images"], batch["text"]), batch["text"])


def contrastive_objective_with_contradictions(model, batch, generator):
    """CLIP's loss where each image must also reject its own caption with
    one claim made false (``data.scenes.contradiction``, in ``batch["contradiction"]``): hard negatives,
    as in NegCLIP. Random captions in a batch almost never differ from the
    right one only in a relation, so plain CLIP has no reason to learn
    relations. One wrong caption among B + 1 choices weighs little in
    CLIP's loss, so the two-way choice, own caption or its contradiction,
    is added on its own."""
    images = model.encode_image(batch["images"])
    captions = model.encode_text(batch["text"])
    wrong = model.encode_text(batch["contradiction"])
    logits = model.scale() * images @ captions.T  # (B, B), as CLIP
    # image i against its wrong caption; where none could be made
    # (contradicts is False), a logit that is never chosen
    made = batch["contradicts"]
    negatives = model.scale() * (images * wrong).sum(-1)
    negatives = torch.where(made, negatives, -1e4)
    clip = contrastive_loss(logits, batch["text"], negatives[:, None])
    # -log p(own | own, wrong) = softplus(wrong - own), images with one
    two_way = F.softplus(negatives - logits.diagonal())[made]
    two_way = HARD_NEGATIVE_WEIGHT * two_way.sum() / made.sum().clamp(min=1)
    return clip + two_way
