"""GRU4Rec (Hidasi et al., ICLR 2016) as RecBole computes it."""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from .base import SequentialRecommender, loss_type_setting
from .layers import gather_last, init_gru
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class GRU4RecSettings(ModelSettings):
    """RecBole 1.2.1's GRU4Rec.yaml keys and defaults."""

    title = "GRU4Rec"
    embedding_size: int = setting(64, c.integer(1), "Size of the item embeddings (the output layer too).")
    hidden_size: int = setting(128, c.integer(1), "Size of the GRU hidden state.")
    num_layers: int = setting(1, c.integer(1), "Number of stacked GRU layers.")
    dropout_prob: float = setting(0.3, c.number(0.0, 1.0, max_open=True), "Dropout on the item embeddings.")
    loss_type: str = loss_type_setting()


class GRU4Rec(SequentialRecommender):
    """Item embedding -> dropout -> GRU (no bias) -> dense layer to the embedding size."""

    def __init__(self, n_items: int, embedding_size: int = 64, hidden_size: int = 128, num_layers: int = 1,
                 dropout_prob: float = 0.3, loss_type: str = "CE") -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.dropout = nn.Dropout(dropout_prob)
        self.gru = nn.GRU(embedding_size, hidden_size, num_layers, bias=False, batch_first=True)
        self.dense = nn.Linear(hidden_size, embedding_size)
        nn.init.xavier_normal_(self.item_embedding.weight)
        init_gru(self.gru)

    @classmethod
    def build(cls, settings: GRU4RecSettings, catalogue: Catalogue) -> "GRU4Rec":
        return cls(catalogue.n_items, settings.embedding_size, settings.hidden_size, settings.num_layers,
                   settings.dropout_prob, settings.loss_type)

    def _run(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple:
        return self.gru(self.dropout(self.item_embedding(inputs)), state)  # [B, L, H], [layers, B, H]

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, _ = self._run(history)
        return self.dense(gather_last(outputs, lengths))  # [B, E]

    def encode_steps(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple:
        outputs, state = self._run(inputs, state)
        return self.dense(outputs), state  # [B, L, E]


# GRU4RecF's default recipe (the same GRU over item ids; docs/results.md#the-default-recipe).
# configs/recbole_exact.yaml gives RecBole's augment procedure instead.
FAST_RECIPE = {"train_mode": "sequence", "segment_length": 50, "learning_rate": 0.003, "stopping_step": 5}

MODEL = ModelSpec("GRU4Rec", GRU4RecSettings, GRU4Rec,
                  "Hidasi et al., Session-based Recommendations with Recurrent Neural Networks (ICLR 2016)",
                  train_modes=("augment", "sequence"), defaults=FAST_RECIPE)
