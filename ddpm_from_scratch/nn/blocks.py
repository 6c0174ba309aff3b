"""The pieces every network of the book shares (chapters 01, 03 and 04).

- ``sinusoidal_embedding``: the step index as a vector (Vaswani et al. 2017; DDPM section 4);
- ``ResBlock``: GroupNorm-conv residual block, with the step (and condition) embedding added
  when it has one (the U-Net) and without (the autoencoder);
- ``MultiHeadAttention``: softmax(Q K^T / sqrt(d)) V over heads, self- or cross-attention;
- ``AttentionBlock``: self-attention over the pixels of a feature map, then optional
  cross-attention to context tokens (text).

Attention runs through ``torch.nn.functional.scaled_dot_product_attention`` (fast, no
attention map kept). ``attention_reference`` is the same formula written out, the one the
book reads; a test checks they agree. Attention maps are stored only inside
``keep_attention_maps(model)``, for the figures that show them.
"""

import math
from contextlib import contextmanager

import torch
from torch import nn
import torch.nn.functional as F


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) step indices -> (B, dim): [sin(t w_i), cos(t w_i)], w_i = max_period^(-i / (dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """h = x + conv(act(norm(conv(act(norm(x))) + W emb)))  (DDPM appendix B / Wide ResNet).

    ``emb_dim=None``: no embedding input (the autoencoder's blocks).
    """

    def __init__(self, in_ch, out_ch, emb_dim=None, groups=8, dropout=0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch) if emb_dim is not None else None
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x, emb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.emb is not None:
            h = h + self.emb(F.silu(emb))[:, :, None, None]  # the step (and condition) enters every block
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


def attention_reference(q, k, v, mask=None):
    """softmax(Q K^T / sqrt(d)) V, written out: q (B, h, N, d), k and v (B, h, L, d), mask (B, L) bool
    (True = a real token). Returns (output (B, h, N, d), weights (B, h, N, L))."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, h, N, L): how much each query likes each key
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))  # padding gets weight 0
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """softmax(Q K^T / sqrt(d)) V over heads; keys/values come from ``context`` when given (cross-attention)."""

    def __init__(self, dim, num_heads, context_dim=None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.keep_weights = False  # set by keep_attention_maps()
        self.last_weights = None   # (B, heads, N, L) attention map of the last call, when kept

    def forward(self, x, context=None, mask=None):
        """x: (B, N, dim); context: (B, L, context_dim); mask: (B, L) bool, True = a real token."""
        B, N, D = x.shape
        source = x if context is None else context
        q = self.to_q(x)
        k, v = self.to_kv(source).chunk(2, dim=-1)
        split = lambda z: z.reshape(B, -1, self.num_heads, D // self.num_heads).transpose(1, 2)  # (B, h, *, d)
        q, k, v = split(q), split(k), split(v)
        if self.keep_weights:
            h, weights = attention_reference(q, k, v, mask)
            self.last_weights = weights.detach()
        else:
            h = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None, None, :])
        return self.out(h.transpose(1, 2).reshape(B, N, D))


@contextmanager
def keep_attention_maps(model: nn.Module):
    """Inside the block, every attention layer of ``model`` keeps its last map in ``last_weights``."""
    layers = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    for layer in layers:
        layer.keep_weights = True
    try:
        yield layers
    finally:
        for layer in layers:
            layer.keep_weights = False


class AttentionBlock(nn.Module):
    """Self-attention over the pixels of a feature map, then (optionally) cross-attention to context tokens."""

    def __init__(self, channels, num_heads, groups, context_dim=None):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.self_attention = MultiHeadAttention(channels, num_heads)
        if context_dim is not None:
            self.norm_cross = nn.LayerNorm(channels)
            self.cross_attention = MultiHeadAttention(channels, num_heads, context_dim)

    def forward(self, x, context=None, context_mask=None):
        B, C, H, W = x.shape
        h = x + self.self_attention(self.norm(x).flatten(2).transpose(1, 2)).transpose(1, 2).reshape(B, C, H, W)
        if hasattr(self, "cross_attention") and context is not None:
            tokens = h.flatten(2).transpose(1, 2)  # (B, H*W, C): each pixel queries the words
            tokens = tokens + self.cross_attention(self.norm_cross(tokens), context, context_mask)
            h = tokens.transpose(1, 2).reshape(B, C, H, W)
        return h
