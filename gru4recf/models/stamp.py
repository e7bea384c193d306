"""STAMP (Liu et al., KDD 2018) as RecBole 1.2.1 computes it.

After a history x_1..x_n of item embeddings, with the last click x_n and the history's mean m_s:
attention weights a_i = w0 . sigmoid(W1 x_i + W2 x_n + W3 m_s + b_a) (not normalised), the memory
m_a = sum_i a_i x_i + m_s, and the representation tanh(MLP_a(m_a)) * tanh(MLP_b(x_n)) (RecBole
drops the paper's final sigmoid).

RecBole pads every history to MAX_ITEM_LIST_LENGTH with item 0, whose embedding is not zero
(its initialisation overwrites the padding row, which the output layer then trains), and its sums
run over the padded width: m_s = (sum_i x_i + p x_0) / n and m_a gains p a_0 x_0, for
p = MAX_ITEM_LIST_LENGTH - n padding steps. This module adds those p terms itself, so its output
does not depend on how wide a batch is padded; a prefix longer than MAX_ITEM_LIST_LENGTH (train_mode
'sequence') has none.

train_mode 'sequence': step t attends to every item of its prefix, so the state carried from one
chunk to the next is the item ids read so far; each step's output is `encode` of its whole prefix,
whatever the chunk length. Attention costs O(prefix) per step: segments (`segment_length`) bound it.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from .base import SequentialRecommender, loss_type_setting
from .layers import gather_last
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class STAMPSettings(ModelSettings):
    """RecBole 1.2.1's STAMP.yaml keys and defaults."""

    title = "STAMP"
    embedding_size: int = setting(64, c.integer(1), "Size of the item embeddings (attention and output layer too).")
    loss_type: str = loss_type_setting()


class STAMP(SequentialRecommender):
    """Attention over the history's embeddings, given the last click and their mean; two MLPs."""

    def __init__(self, n_items: int, embedding_size: int = 64, loss_type: str = "CE", max_history: int = 50) -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.max_history = max_history
        self.w1 = nn.Linear(embedding_size, embedding_size, bias=False)
        self.w2 = nn.Linear(embedding_size, embedding_size, bias=False)
        self.w3 = nn.Linear(embedding_size, embedding_size, bias=False)
        self.w0 = nn.Linear(embedding_size, 1, bias=False)
        self.b_a = nn.Parameter(torch.zeros(embedding_size))
        self.mlp_a = nn.Linear(embedding_size, embedding_size)
        self.mlp_b = nn.Linear(embedding_size, embedding_size)
        # RecBole's initialisation, in its order: embeddings normal(0, 0.002) (the padding row too),
        # dense weights normal(0, 0.05), biases zero
        nn.init.normal_(self.item_embedding.weight, 0.0, 0.002)
        for layer in (self.w1, self.w2, self.w3, self.w0, self.mlp_a, self.mlp_b):
            nn.init.normal_(layer.weight, 0.0, 0.05)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    @classmethod
    def build(cls, settings: STAMPSettings, catalogue: Catalogue) -> "STAMP":
        return cls(catalogue.n_items, settings.embedding_size, settings.loss_type, catalogue.max_history)

    def _represent(self, items: torch.Tensor, seen: torch.Tensor, last: torch.Tensor, sums: torch.Tensor,
                   counts: torch.Tensor) -> torch.Tensor:
        """The representation after Q queries over K keys: `items` [b, K, E] the keys' embeddings,
        `seen` [b, Q, K] which keys each query's history holds, `last` [b, Q, E] its last click,
        `sums` [b, Q, E] the sum of its history's embeddings, `counts` [b, Q] its length -> [b, Q, E]."""
        # [E]; as in RecBole, where padding reaches the sums through the lookup's padding_idx, these
        # terms send no gradient to the padding row (only the output layer trains it)
        padding = self.item_embedding.weight[0].detach()
        pads = (self.max_history - counts).clamp(min=0).unsqueeze(-1).to(items.dtype)  # [b, Q, 1]
        mean = (sums + pads * padding) / counts.unsqueeze(-1)  # [b, Q, E]: RecBole's m_s over the padded width
        query = self.w2(last) + self.w3(mean) + self.b_a  # [b, Q, E]
        alpha = self.w0(torch.sigmoid(self.w1(items).unsqueeze(1) + query.unsqueeze(2))).squeeze(-1)  # [b, Q, K]
        alpha_pad = self.w0(torch.sigmoid(self.w1(padding) + query))  # [b, Q, 1]
        memory = (alpha * seen) @ items + pads * alpha_pad * padding + mean  # [b, Q, E]
        return torch.tanh(self.mlp_a(memory)) * torch.tanh(self.mlp_b(last))

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        items = self.item_embedding(history)  # [B, L, E]
        seen = (torch.arange(history.shape[1], device=history.device) < lengths.unsqueeze(-1)).unsqueeze(1)  # [B, 1, L]
        last = gather_last(items, lengths).unsqueeze(1)  # [B, 1, E]
        sums = (items * seen.transpose(1, 2)).sum(dim=1, keepdim=True)  # [B, 1, E]
        return self._represent(items, seen, last, sums, lengths.unsqueeze(-1)).squeeze(1)  # [B, E]

    def encode_steps(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        ids = inputs if state is None else torch.cat([state, inputs], dim=1)  # [b, T + l]: the prefix read so far
        steps, past = inputs.shape[1], ids.shape[1] - inputs.shape[1]
        items = self.item_embedding(ids)  # [b, T + l, E]
        seen = torch.ones(steps, past + steps, dtype=torch.bool, device=inputs.device).tril(past)  # [l, T + l]
        counts = torch.arange(past + 1, past + steps + 1, device=inputs.device).expand(len(ids), -1)  # [b, l]
        sums = items.cumsum(dim=1)[:, past:]  # [b, l, E]
        outputs = self._represent(items, seen.unsqueeze(0), items[:, past:], sums, counts)  # [b, l, E]
        return outputs, ids

    @staticmethod
    def carry(state: torch.Tensor, rows: int) -> torch.Tensor:
        """The item ids read so far by the first `rows` rows (the rows still running)."""
        return state[:rows]


MODEL = ModelSpec("STAMP", STAMPSettings, STAMP,
                  "Liu et al., STAMP: Short-Term Attention/Memory Priority Model for Session-based "
                  "Recommendation (KDD 2018)", train_modes=("augment", "sequence"),
                  fastest_mode="augment")  # 6.3 s per ml-100k epoch against 'sequence' 8.0 s (docs/results.md)
