"""GRU4Rec (Hidasi et al., ICLR 2016) as RecBole computes it."""
from typing import Optional

import torch
from torch import nn

from .base import SequentialRecommender
from .layers import gather_last, init_gru


class GRU4Rec(SequentialRecommender):
    """Item embedding -> dropout -> GRU (no bias) -> dense layer to the embedding size."""

    config_keys = ("embedding_size", "hidden_size", "num_layers", "dropout_prob", "loss_type")

    def __init__(self, n_items: int, embedding_size: int = 64, hidden_size: int = 128, num_layers: int = 1,
                 dropout_prob: float = 0.3, loss_type: str = "CE") -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.dropout = nn.Dropout(dropout_prob)
        self.gru = nn.GRU(embedding_size, hidden_size, num_layers, bias=False, batch_first=True)
        self.dense = nn.Linear(hidden_size, embedding_size)
        nn.init.xavier_normal_(self.item_embedding.weight)
        init_gru(self.gru)

    def _run(self, inputs: torch.Tensor, hidden: Optional[torch.Tensor] = None) -> tuple:
        return self.gru(self.dropout(self.item_embedding(inputs)), hidden)  # [B, L, H], [layers, B, H]

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, _ = self._run(history)
        return self.dense(gather_last(outputs, lengths))  # [B, E]

    def encode_steps(self, inputs: torch.Tensor, hidden: Optional[torch.Tensor] = None) -> tuple:
        outputs, hidden = self._run(inputs, hidden)
        return self.dense(outputs), hidden  # [B, L, E]
