"""The cross-encoder in torch: multilingual-e5-small's encoder with a linear head and the
null option's logit, and the part of it that is exported to ONNX."""

from __future__ import annotations

import torch
from torch import nn

from bot.ranking.e5file import E5File
from bot.training.reranker.torch_encoder import Encoder, load_encoder, mean_pooled, word_embedding


class CrossEncoder(nn.Module):
    """Word-embedding lookup, the encoder, mean pooling and a linear head; plus the null
    option's logit."""

    def __init__(self, file: E5File) -> None:
        super().__init__()
        self.words = word_embedding(file)
        self.encoder = load_encoder(file)
        self.head = nn.Linear(file.header.hidden, 1)
        # zero: the first step's lists are ranked by the first stage alone
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.null = nn.Parameter(torch.zeros(()))
        self.alpha = nn.Parameter(torch.ones(()))  # the first stage's weight in a logit

    def frozen_rows(self, ids: torch.Tensor, mask: torch.Tensor, frozen: int) -> torch.Tensor:
        """The hidden states after the embeddings and the lowest `frozen` layers (no
        gradients: nothing there is trained)."""
        with torch.no_grad():
            return self.encoder.lower(self.words(ids), mask, frozen)

    def score_from(self, hidden: torch.Tensor, mask: torch.Tensor, frozen: int) -> torch.Tensor:
        """Scores of pairs from `frozen_rows`' output."""
        out: torch.Tensor = self.head(
            mean_pooled(self.encoder.upper(hidden, mask, frozen), mask)
        ).squeeze(-1)
        return out

    def score_rows(self, words: torch.Tensor, mask: torch.Tensor, frozen: int = 0) -> torch.Tensor:
        """Scores of pairs given their word-embedding rows: (batch, length, hidden)."""
        hidden = self.encoder(words, mask, frozen)
        out: torch.Tensor = self.head(mean_pooled(hidden, mask)).squeeze(-1)
        return out

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, frozen: int = 0) -> torch.Tensor:
        """Scores of pairs given token ids: (batch,)."""
        return self.score_rows(self.words(ids), mask, frozen)


class ExportedScorer(nn.Module):
    """What is exported to ONNX: word rows and mask in, one score a pair out."""

    def __init__(self, model: CrossEncoder) -> None:
        super().__init__()
        self.encoder: Encoder = model.encoder
        self.head = model.head

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, length, hidden) float rows and (batch, length) float mask -> (batch,)."""
        out: torch.Tensor = self.head(mean_pooled(self.encoder(words, mask), mask)).squeeze(-1)
        return out


def trainable_state(model: CrossEncoder) -> dict[str, torch.Tensor]:
    """The weights that change in training (the frozen word embedding left out)."""
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
