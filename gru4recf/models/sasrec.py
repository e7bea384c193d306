"""SASRec (Kang & McAuley, ICDM 2018) as RecBole 1.2.1 computes it: item plus position embeddings,
LayerNorm, dropout, a causal transformer encoder; the output at the last item is scored against
the item embeddings. Parameter names are RecBole's, so its state_dict copies over (item rows
moved to our ids).

train_mode 'sequence': each training row (a segment's warm-up and its targets) is one causal pass
from position 0, so the output at every target is exactly `encode` of the row up to it; rows must
fit the MAX_ITEM_LIST_LENGTH positions (`check_rows_fit_positions`), hence this model's defaults
of 25 warm-up items and 25 targets per segment.
"""
from dataclasses import dataclass
from functools import partial
from typing import Any, Dict, FrozenSet, List, Optional

import torch
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from .base import SequentialRecommender, loss_type_setting
from .spec import Catalogue, ModelSettings, ModelSpec
from .transformer import CausalSteps, TransformerEncoder, causal_mask, check_heads, check_rows_fit_positions, \
    hidden_act_setting, init_transformer_weights

NAME = "SASRec"


@dataclass(frozen=True)
class SASRecSettings(ModelSettings):
    """RecBole 1.2.1's SASRec.yaml keys and defaults."""

    title = "SASRec"
    n_layers: int = setting(2, c.integer(1), "Number of transformer blocks.")
    n_heads: int = setting(2, c.integer(1), "Attention heads per block (hidden_size must be a multiple of it).")
    hidden_size: int = setting(64, c.integer(1), "Model width: size of the item and position embeddings and of "
                                                 "every block's output.")
    inner_size: int = setting(256, c.integer(1), "Inner size of the feed-forward layer.")
    hidden_dropout_prob: float = setting(0.5, c.number(0.0, 1.0, max_open=True),
                                         "Dropout on the embeddings and on each sub-layer's output.")
    attn_dropout_prob: float = setting(0.5, c.number(0.0, 1.0, max_open=True), "Dropout on the attention weights.")
    hidden_act: str = hidden_act_setting()
    layer_norm_eps: float = setting(1e-12, c.number(0.0, min_open=True), "Epsilon of the LayerNorms.")
    initializer_range: float = setting(0.02, c.number(0.0, min_open=True),
                                       "Standard deviation of the normal initialisation of weights.")
    loss_type: str = loss_type_setting()

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """hidden_size against n_heads; in train_mode 'sequence', rows against the position table."""
        check_heads(values, NAME)
        check_rows_fit_positions(values, NAME)
        return []


class SASRec(CausalSteps, SequentialRecommender):
    """(item + position embedding) -> LayerNorm -> dropout -> causal TransformerEncoder."""

    def __init__(self, n_items: int, max_history: int = 50, n_layers: int = 2, n_heads: int = 2,
                 hidden_size: int = 64, inner_size: int = 256, hidden_dropout_prob: float = 0.5,
                 attn_dropout_prob: float = 0.5, hidden_act: str = "gelu", layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, loss_type: str = "CE") -> None:
        super().__init__(n_items, hidden_size, loss_type)
        self.position_embedding = nn.Embedding(max_history, hidden_size)
        self.trm_encoder = TransformerEncoder(n_layers, n_heads, hidden_size, inner_size, hidden_dropout_prob,
                                              attn_dropout_prob, hidden_act, layer_norm_eps)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)  # RecBole's names
        self.dropout = nn.Dropout(hidden_dropout_prob)
        self.apply(partial(init_transformer_weights, initializer_range=initializer_range))

    @classmethod
    def build(cls, settings: SASRecSettings, catalogue: Catalogue) -> "SASRec":
        return cls(catalogue.n_items, catalogue.max_history, settings.n_layers, settings.n_heads,
                   settings.hidden_size, settings.inner_size, settings.hidden_dropout_prob,
                   settings.attn_dropout_prob, settings.hidden_act, settings.layer_norm_eps,
                   settings.initializer_range, settings.loss_type)

    def _encode(self, items: torch.Tensor, at: Optional[torch.Tensor]) -> torch.Tensor:
        """[B, L] right-padded item ids (L <= max_history) -> the output after every step [B, L, H],
        or with `at` [B] after that step of each row [B, H]."""
        positions = torch.arange(items.shape[1], device=items.device).unsqueeze(0)  # [1, L]
        hidden = self.item_embedding(items) + self.position_embedding(positions)  # [B, L, H]
        hidden = self.dropout(self.LayerNorm(hidden))
        return self.trm_encoder(hidden, causal_mask(items), at=at)  # [B, L, H] or [B, H]


MODEL = ModelSpec(NAME, SASRecSettings, SASRec,
                  "Kang & McAuley, Self-Attentive Sequential Recommendation (ICDM 2018)",
                  train_modes=("augment", "sequence"),
                  defaults={"segment_length": 25, "warmup_length": 25})  # rows of 50 = MAX_ITEM_LIST_LENGTH
