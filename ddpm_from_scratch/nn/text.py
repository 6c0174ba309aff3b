"""Text in, embeddings out: a word tokenizer and a small transformer text encoder (chapter 03).

The lecture's third input of Denoise is the text. A network cannot read letters, so:

1. the *tokenizer* turns a sentence into integer ids, one per word, from a vocabulary
   built from the training captions (``<start>`` first; ``<unk>`` for unknown words;
   ``<pad>`` fills a batch to one length);
2. the *text encoder* maps the ids to one vector per token (token + position
   embeddings, then pre-norm transformer blocks with a padding mask) and a pooled
   sentence vector (the mean over the real tokens);
3. the U-Net reads the token vectors through cross-attention and adds the pooled vector
   to its step embedding (``TextConditionedUNet``).

The empty text is the single token ``<start>``: that is the "no caption" input that
classifier-free guidance uses.
"""

import hashlib
import re
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from .blocks import MultiHeadAttention
from .unet import UNet, UNetConfig

PAD, UNK, START = "<pad>", "<unk>", "<start>"
SPECIAL_TOKENS = (PAD, UNK, START)


def words_in(text: str) -> list:
    """Lower-cased words, punctuation dropped: "Top-left: a RED box." -> [top, left, a, red, box]."""
    return re.findall(r"[a-z0-9]+", text.lower())


def _shown(text: str, limit: int = 60) -> str:
    """A prompt as a warning quotes it: cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


class Tokenizer:
    """Word-level tokenizer: ``tokenizer(["a red circle"])`` -> ids (B, max_length), 0 = padding."""

    def __init__(self, vocabulary, max_length: int = 16):
        words = [w for w in vocabulary if w not in SPECIAL_TOKENS]
        if len(set(words)) != len(words):
            raise ValueError("the vocabulary lists a word twice")
        self.tokens = list(SPECIAL_TOKENS) + words
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.tokens)

    def checksum(self) -> int:
        """A 62-bit fingerprint of the vocabulary, stored beside the weights that were trained with it."""
        return int(hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()[:15], 16)

    def encode(self, text: str) -> list:
        """One text -> ids: <start>, then one id per word (unknown words -> <unk>, with a warning)."""
        if not isinstance(text, str):
            raise TypeError(f"expected a text (str), got {type(text).__name__}")
        words = words_in(text)
        unreadable = [w for w in re.findall(r"\w+", text.lower()) if not re.fullmatch(r"[a-z0-9]+", w)]
        if unreadable:  # letters outside a-z (another script, accents): they are not words to this tokenizer
            warnings.warn(f"{unreadable} in {_shown(text)} use letters outside a-z, which this tokenizer drops (it keeps only "
                          f"a-z and 0-9){': the prompt reads as empty (no text)' if not words else ''}", stacklevel=3)
        unknown = sorted({w for w in words if w not in self.ids})
        if unknown:
            warnings.warn(f"unknown words {unknown} in {_shown(text)}: the model never saw them and reads them as "
                          f"{UNK}. Known words: {', '.join(self.tokens[len(SPECIAL_TOKENS):])}", stacklevel=3)
        ids = [self.ids[START]] + [self.ids.get(w, self.ids[UNK]) for w in words]
        if len(ids) > self.max_length:
            warnings.warn(f"{_shown(text)} has {len(words)} words; only the first {self.max_length - 1} are read "
                          f"(max_length={self.max_length} tokens including {START})", stacklevel=3)
            ids = ids[:self.max_length]
        return ids

    def __call__(self, texts) -> torch.Tensor:
        """A text or a list of texts -> (B, max_length) long tensor, padded with 0."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = torch.zeros(len(texts), self.max_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = self.encode(text)
            out[row, :len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids) -> str:
        """ids (a row of a batch) -> the words, without <start> and padding."""
        return " ".join(self.tokens[i] for i in torch.as_tensor(ids).tolist() if i not in (0, self.ids[START]))


class TransformerBlock(nn.Module):
    """Pre-norm block: h = x + Attn(LN(x)); out = h + MLP(LN(h))   (Vaswani et al. 2017, pre-norm as in GPT-2)."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, mask):
        x = x + self.attention(self.norm1(x), mask=mask)  # each token attends to the real tokens only
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """ids (B, L) -> (tokens (B, L, dim), mask (B, L) bool, pooled (B, dim))."""

    def __init__(self, vocab_size, max_length, dim=64, num_layers=2, num_heads=4):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Parameter(torch.randn(max_length, dim) * 0.02)
        self.blocks = nn.ModuleList([TransformerBlock(dim, num_heads) for _ in range(num_layers)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids):
        mask = ids != 0  # True = a real token (<start> is always one, so no row is all padding)
        x = self.token_embedding(ids) + self.position_embedding[:ids.shape[1]]
        for block in self.blocks:
            x = block(x, mask)
        x = self.norm(x)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # mean over the real tokens
        return x, mask, pooled


@dataclass
class TextUNetConfig:
    vocabulary: tuple = ()                 # the training captions' words (the tokenizer is rebuilt from it)
    max_length: int = 16                   # tokens per text, <start> included
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_entry: str = "cross_attention"    # or "pooled": only a sentence vector added to the step embedding
    train_text_encoder: bool = True        # False: the encoder is another model's, loaded and frozen (chapter 04)
    image_channels: int = 3
    image_size: int = 16
    base_channels: int = 32
    channel_mults: tuple = (1, 2, 2)
    num_res_blocks: int = 1
    attention_resolutions: tuple = (8, 4)
    num_heads: int = 4
    data_range: tuple | None = (-1.0, 1.0)  # images in [-1, 1]; latents: their measured range


class TextConditionedUNet(nn.Module):
    """eps_theta(x_t, t, text): a TextEncoder feeding a UNet. ``text`` = token ids; ``None`` = the empty text."""

    def __init__(self, config: TextUNetConfig = TextUNetConfig()):
        super().__init__()
        c = self.config = config
        if c.text_entry not in ("cross_attention", "pooled"):
            raise ValueError(f"text_entry must be 'cross_attention' or 'pooled', got {c.text_entry!r}")
        if not c.vocabulary:
            raise ValueError("TextUNetConfig needs the training vocabulary, e.g. data.shapes.vocabulary()")
        self.tokenizer = Tokenizer(c.vocabulary, c.max_length)
        self.text_encoder = TextEncoder(len(self.tokenizer), c.max_length, c.text_dim, c.text_layers, c.text_heads)
        self.unet = UNet(UNetConfig(
            image_channels=c.image_channels, image_size=c.image_size, base_channels=c.base_channels,
            channel_mults=c.channel_mults, num_res_blocks=c.num_res_blocks,
            attention_resolutions=c.attention_resolutions, num_heads=c.num_heads, pooled_dim=c.text_dim,
            data_range=c.data_range,
            context_dim=c.text_dim if c.text_entry == "cross_attention" else None))
        if not c.train_text_encoder:
            self.text_encoder.requires_grad_(False)  # trained separately: the optimiser leaves it alone
        # The vocabulary's fingerprint travels with the weights: loading weights trained with another
        # vocabulary (so token ids meaning other words) is refused in load_state_dict.
        self.register_buffer("vocabulary_checksum", torch.tensor(self.tokenizer.checksum()))

    def empty_text(self, batch_size: int, device=None) -> torch.Tensor:
        return self.tokenizer([""] * batch_size).to(device)

    @property
    def sample_shape(self) -> tuple:
        return self.unet.sample_shape

    @property
    def data_range(self):
        return self.unet.data_range

    def forward(self, x, t, text=None):
        """x: (B, C, S, S); t: (B,) steps; text: (B, L) token ids from ``self.tokenizer`` (None: empty text)."""
        if text is None:
            text = self.empty_text(x.shape[0], x.device)
        if not isinstance(text, torch.Tensor) or text.dtype != torch.long:
            raise TypeError("text must be token ids, a long tensor (B, L): use model.tokenizer(list_of_prompts)")
        if text.ndim != 2 or text.shape[0] != x.shape[0] or text.shape[1] > self.config.max_length:
            raise ValueError(f"text must have shape ({x.shape[0]}, <= {self.config.max_length}), got {tuple(text.shape)}")
        if text.max() >= len(self.tokenizer) or text.min() < 0:
            raise ValueError(f"token ids must lie in [0, {len(self.tokenizer)}), got {text.min()}..{text.max()}")
        tokens, mask, pooled = self.text_encoder(text)
        if self.config.text_entry == "pooled":
            return self.unet(x, t, pooled=pooled)
        return self.unet(x, t, context=tokens, context_mask=mask, pooled=pooled)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        saved = state_dict.get("vocabulary_checksum")
        if saved is not None and int(saved) != self.tokenizer.checksum():
            raise ValueError("these weights were trained with a different vocabulary than this model's tokenizer "
                             "(vocabulary checksums differ): token ids would mean other words. Load the checkpoint "
                             "with the config it was saved with (pretrained.load / checkpoints.load_model).")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
