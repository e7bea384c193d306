"""GRU4Rec (Hidasi et al., ICLR 2016) as RecBole computes it, or, with four keys, as its authors' code
builds it (configs/gru4rec_official.yaml; docs/models/GRU4Rec.md says where the two differ)."""
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional

import torch
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from ..errors import ConfigError
from .base import SequentialRecommender, loss_type_setting
from .layers import gather_last, init_gru
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class GRU4RecSettings(ModelSettings):
    """RecBole 1.2.1's GRU4Rec.yaml keys and defaults, and the authors' architecture switches (off)."""

    title = "GRU4Rec"
    embedding_size: int = setting(64, c.integer(1), "Size of the item embeddings (the output layer too).")
    hidden_size: int = setting(128, c.integer(1), "Size of the GRU hidden state.")
    num_layers: int = setting(1, c.integer(1), "Number of stacked GRU layers.")
    dropout_prob: float = setting(0.3, c.number(0.0, 1.0, max_open=True), "Dropout on the item embeddings.")
    hidden_dropout_prob: float = setting(
        0.0, c.number(0.0, 1.0, max_open=True),
        "Dropout on the top GRU layer's output, which is also the state it carries to the next step (the "
        "authors' dropout_p_hidden).")
    constrained_embedding: bool = setting(
        False, c.boolean,
        "True: the item table is the GRU's input and its output layer with no dense layer between (the authors' "
        "default; embedding_size must equal hidden_size).")
    output_bias: bool = setting(False, c.boolean, "A learned score bias per item (the authors' model has one).")
    gru_bias: bool = setting(False, c.boolean, "Biases in the GRU (RecBole's GRU has none; the authors' has).")
    loss_type: str = loss_type_setting()

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """A constrained embedding feeds the item table to the GRU and scores its state against the
        same table, so both have hidden_size columns."""
        if values["constrained_embedding"] and values["embedding_size"] != values["hidden_size"]:
            raise ConfigError(f"model 'GRU4Rec' with constrained_embedding: True needs embedding_size equal to "
                              f"hidden_size (the item table is the GRU's input and output); found embedding_size "
                              f"{values['embedding_size']} and hidden_size {values['hidden_size']}")
        return []


class GRU4Rec(SequentialRecommender):
    """Item embedding -> dropout -> GRU -> (dense layer to the embedding size, unless the embedding
    is constrained) -> scores against the item embeddings (+ item bias)."""

    def __init__(self, n_items: int, embedding_size: int = 64, hidden_size: int = 128, num_layers: int = 1,
                 dropout_prob: float = 0.3, loss_type: str = "CE", hidden_dropout_prob: float = 0.0,
                 constrained_embedding: bool = False, output_bias: bool = False, gru_bias: bool = False) -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.dropout = nn.Dropout(dropout_prob)
        self.hidden_dropout = nn.Dropout(hidden_dropout_prob)
        self.gru = nn.GRU(embedding_size, hidden_size, num_layers, bias=gru_bias, batch_first=True)
        self.dense = None if constrained_embedding else nn.Linear(hidden_size, embedding_size)
        nn.init.xavier_normal_(self.item_embedding.weight)
        init_gru(self.gru)
        for name, parameter in self.gru.named_parameters():
            if name.startswith("bias"):
                nn.init.zeros_(parameter)  # the authors' GRU starts with zero biases
        if output_bias:
            self.item_bias = nn.Embedding(n_items, 1)
            nn.init.zeros_(self.item_bias.weight)

    @classmethod
    def build(cls, settings: GRU4RecSettings, catalogue: Catalogue) -> "GRU4Rec":
        return cls(catalogue.n_items, settings.embedding_size, settings.hidden_size, settings.num_layers,
                   settings.dropout_prob, settings.loss_type, settings.hidden_dropout_prob,
                   settings.constrained_embedding, settings.output_bias, settings.gru_bias)

    def _run(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple:
        embedded = self.dropout(self.item_embedding(inputs))  # [B, L, E]
        if not (self.training and self.hidden_dropout.p > 0):
            return self.gru(embedded, state)  # [B, L, H], [layers, B, H]
        outputs = []
        for step in range(embedded.shape[1]):  # the dropped-out output is the state the next step reads
            output, state = self.gru(embedded[:, step:step + 1], state)
            output = self.hidden_dropout(output)  # [B, 1, H]
            state = torch.cat([state[:-1], output.transpose(0, 1)])  # [layers, B, H]
            outputs.append(output)
        return torch.cat(outputs, dim=1), state

    def _head(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs if self.dense is None else self.dense(outputs)

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, _ = self._run(history)
        return self._head(gather_last(outputs, lengths))  # [B, E]

    def encode_steps(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple:
        outputs, state = self._run(inputs, state)
        return self._head(outputs), state  # [B, L, E]


# GRU4RecF's default recipe (the same GRU over item ids; docs/results.md#the-default-recipe).
# configs/recbole_exact.yaml gives RecBole's augment procedure instead.
FAST_RECIPE = {"train_mode": "sequence", "segment_length": 50, "learning_rate": 0.003, "stopping_step": 5}

MODEL = ModelSpec("GRU4Rec", GRU4RecSettings, GRU4Rec,
                  "Hidasi et al., Session-based Recommendations with Recurrent Neural Networks (ICLR 2016)",
                  train_modes=("augment", "sequence", "session_parallel"), defaults=FAST_RECIPE)
