"""GRU4RecF: the parallel RNN of Hidasi et al. (RecSys 2016) as RecBole computes it.

One GRU reads the item-id embeddings, a parallel GRU reads the items' feature embeddings; their
outputs are concatenated and a dense layer maps them back to the embedding size.
"""
from typing import Optional, Sequence

import torch
from torch import nn

from ..data.features import FeatureField
from .base import SequentialRecommender
from .layers import ItemFeatureEncoder, gather_last, init_gru


class GRU4RecF(SequentialRecommender):
    """Parallel item-id GRU and feature GRU, outputs concatenated, then a dense layer."""

    config_keys = ("embedding_size", "hidden_size", "num_layers", "dropout_prob", "pooling_mode", "loss_type")
    uses_features = True

    def __init__(self, n_items: int, item_features: Sequence[FeatureField], embedding_size: int = 64,
                 hidden_size: int = 128, num_layers: int = 1, dropout_prob: float = 0.3,
                 pooling_mode: str = "sum", loss_type: str = "CE") -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.features = ItemFeatureEncoder(item_features, embedding_size, pooling_mode)
        self.dropout = nn.Dropout(dropout_prob)
        self.item_gru = nn.GRU(embedding_size, hidden_size, num_layers, bias=False, batch_first=True)
        self.feature_gru = nn.GRU(self.features.output_size, hidden_size, num_layers, bias=False, batch_first=True)
        self.dense = nn.Linear(2 * hidden_size, embedding_size)
        nn.init.xavier_normal_(self.item_embedding.weight)
        init_gru(self.item_gru)
        init_gru(self.feature_gru)

    def _run(self, inputs: torch.Tensor, hidden: Optional[tuple] = None) -> tuple:
        item_hidden, feature_hidden = hidden if hidden is not None else (None, None)
        item_out, item_hidden = self.item_gru(self.dropout(self.item_embedding(inputs)), item_hidden)  # [B, L, H]
        feature_out, feature_hidden = self.feature_gru(self.features(inputs), feature_hidden)  # [B, L, H]
        return item_out, feature_out, (item_hidden, feature_hidden)

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        item_out, feature_out, _ = self._run(history)
        last = torch.cat([gather_last(item_out, lengths), gather_last(feature_out, lengths)], dim=-1)  # [B, 2H]
        return self.dense(last)  # [B, E]

    def encode_steps(self, inputs: torch.Tensor, hidden: Optional[tuple] = None) -> tuple:
        item_out, feature_out, hidden = self._run(inputs, hidden)
        return self.dense(torch.cat([item_out, feature_out], dim=-1)), hidden  # [B, L, E]
