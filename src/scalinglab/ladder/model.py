"""A decoder-only GPT in one file (nanoGPT's shape): pre-norm blocks, SDPA attention.

Options the scaling literature varies: rotary or learned positions, tied or untied
embeddings. No biases anywhere (LayerNorm included), GELU MLP of ratio 4, fused QKV.
Counting lives in :mod:`scalinglab.ladder.sizing`; :meth:`GPT.param_counts` reports the
counts of the built module so tests can check the two agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .sizing import ModelShape


def _rotary_tables(shape: ModelShape, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    # Su et al. (2021), RoFormer: rotate pairs of channels by position-dependent angles.
    half = shape.head_dim // 2
    inv_freq = 1.0 / (base ** (torch.arange(half, dtype=torch.float32) / half))
    angles = torch.outer(torch.arange(shape.seq_len, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def _apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the two halves of the head dimension ("GPT-NeoX" layout) by position.

    ``x`` is (B, T, ..., D) with the position on axis 1, e.g. q and k together as they come
    out of the fused projection, (B, T, 2, H, D): one pass over both, before any transpose.
    """
    t = x.shape[1]
    shape = (t,) + (1,) * (x.dim() - 3) + (cos.shape[-1],)
    cos, sin = cos[:t].to(x.dtype).view(shape), sin[:t].to(x.dtype).view(shape)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.n_heads = shape.n_heads
        self.qkv = nn.Linear(shape.d_model, 3 * shape.d_model, bias=False)
        self.proj = nn.Linear(shape.d_model, shape.d_model, bias=False)

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None):
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads)
        if rotary is None:
            q, k, v = qkv.unbind(2)
        else:
            q, k = _apply_rotary(qkv[:, :, :2], *rotary).unbind(2)
            v = qkv[:, :, 2]
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(shape.d_model, bias=False)
        self.attn = Attention(shape)
        self.norm2 = nn.LayerNorm(shape.d_model, bias=False)
        hidden = shape.mlp_ratio * shape.d_model
        self.fc = nn.Linear(shape.d_model, hidden, bias=False)
        self.out = nn.Linear(hidden, shape.d_model, bias=False)

    def forward(self, x: torch.Tensor, rotary) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), rotary)
        return x + self.out(F.gelu(self.fc(self.norm2(x)), approximate="tanh"))


class GPT(nn.Module):
    """``GPT(shape)(tokens, targets)`` returns the mean cross-entropy in nats per token."""

    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.shape = shape
        self.embed = nn.Embedding(shape.vocab_size, shape.d_model)
        self.pos = (
            nn.Embedding(shape.seq_len, shape.d_model) if shape.positions == "learned" else None
        )
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.n_layers))
        self.norm = nn.LayerNorm(shape.d_model, bias=False)
        self.head = nn.Linear(shape.d_model, shape.vocab_size, bias=False)
        if shape.tied_embeddings:
            self.head.weight = self.embed.weight
        if shape.positions == "rope":
            cos, sin = _rotary_tables(shape)
            self.register_buffer("rot_cos", cos, persistent=False)
            self.register_buffer("rot_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections: std / sqrt(2 * n_layers).
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("out.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * shape.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(idx)
        if self.pos is not None:
            x = x + self.pos.weight[: idx.shape[1]]
        rotary = (self.rot_cos, self.rot_sin) if self.pos is None else None
        for block in self.blocks:
            x = block(x, rotary)
        logits = self.head(self.norm(x))
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))

    def param_counts(self) -> dict[str, int]:
        """``{"total": ..., "non_embedding": ...}`` counted from the module itself."""
        total = sum(p.numel() for p in self.parameters())  # a tied weight is counted once
        embedding = self.embed.weight.numel()
        if self.pos is not None:
            embedding += self.pos.weight.numel()
        if not self.shape.tied_embeddings:
            embedding += self.head.weight.numel()
        return {"total": total, "non_embedding": total - embedding}

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """Decay matrices only; norms and embeddings are not decayed (GPT-2/3 practice)."""
        decay, no_decay = [], []
        seen: set[int] = set()
        for name, p in self.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            is_matrix = p.dim() >= 2 and not name.startswith(("embed", "pos", "head"))
            (decay if is_matrix else no_decay).append(p)
        return [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
