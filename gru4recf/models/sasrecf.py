"""SASRecF: RecBole 1.2.1's feature-aware SASRec.

Each step's input is a dense layer over [item embedding ; the item's feature embeddings] (features
through `ItemFeatureEncoder`), plus a position embedding, then LayerNorm and dropout, read by a
causal transformer; the output at the last step scores items against the item embeddings. Train
mode 'sequence' reads each training row (a segment after its warm-up) in one causal pass, so every
step's output is exactly the output of its prefix (`CausalSteps`).

Where RecBole 1.2.1 fails: it sizes the dense layer with `dataset.num(field)` slots for a float_seq
feature (its bucket count) but embeds the feature as one slot, so a float_seq feature with more
than one bucket stops it with a shape error; here every selected feature, whatever its kind, is
one slot of `hidden_size` (a float_seq vector through a learned projection, as in GRU4RecF).
"""
from dataclasses import dataclass
from functools import partial
from typing import Any, Dict, FrozenSet, List, Optional, Sequence

import torch
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from ..data.features import FeatureField
from .base import SequentialRecommender, loss_type_setting
from .layers import ItemFeatureEncoder
from .spec import Catalogue, ModelSettings, ModelSpec
from .transformer import CausalSteps, TransformerEncoder, causal_mask, check_heads, check_rows_fit_positions, \
    hidden_act_setting, init_transformer_weights


@dataclass(frozen=True)
class SASRecFSettings(ModelSettings):
    """RecBole 1.2.1's SASRecF.yaml keys and defaults."""

    title = "SASRecF"
    n_layers: int = setting(2, c.integer(1), "Number of transformer layers.")
    n_heads: int = setting(2, c.integer(1), "Attention heads per layer (hidden_size must be a multiple).")
    hidden_size: int = setting(64, c.integer(1), "Size of the item and feature embeddings and of every layer.")
    inner_size: int = setting(256, c.integer(1), "Size of the feed-forward layer.")
    hidden_dropout_prob: float = setting(0.5, c.number(0.0, 1.0, max_open=True), "Dropout on hidden states.")
    attn_dropout_prob: float = setting(0.5, c.number(0.0, 1.0, max_open=True), "Dropout on attention probabilities.")
    hidden_act: str = hidden_act_setting()
    layer_norm_eps: float = setting(1e-12, c.number(0.0, min_open=True), "Epsilon of the LayerNorms.")
    initializer_range: float = setting(0.02, c.number(0.0, min_open=True),
                                       "Standard deviation of the normal initialisation.")
    selected_features: list = setting(
        ["class"], c.string_list(),
        "Item features joined to the item embedding: .item columns (token, token_seq, float, float_seq) or "
        "item_vector_files names.")
    pooling_mode: str = setting("sum", c.one_of(["sum", "mean", "max"]), "How a token_seq feature's tokens are pooled.")
    loss_type: str = loss_type_setting()

    def item_features(self) -> List[str]:
        return list(self.selected_features)

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """Heads against the width; train_mode 'sequence' rows must fit the position table."""
        check_heads(values, "SASRecF")
        check_rows_fit_positions(values, "SASRecF")
        return []


class SASRecF(CausalSteps, SequentialRecommender):
    """Dense layer over [item ; features] + positions -> LayerNorm -> dropout -> causal transformer."""

    def __init__(self, n_items: int, item_features: Sequence[FeatureField], max_history: int, n_layers: int = 2,
                 n_heads: int = 2, hidden_size: int = 64, inner_size: int = 256, hidden_dropout_prob: float = 0.5,
                 attn_dropout_prob: float = 0.5, hidden_act: str = "gelu", layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, pooling_mode: str = "sum", loss_type: str = "CE") -> None:
        super().__init__(n_items, hidden_size, loss_type)
        self.position_embedding = nn.Embedding(max_history, hidden_size)
        self.features = ItemFeatureEncoder(item_features, hidden_size, pooling_mode)  # [..., F * H]
        self.trm_encoder = TransformerEncoder(n_layers, n_heads, hidden_size, inner_size, hidden_dropout_prob,
                                              attn_dropout_prob, hidden_act, layer_norm_eps)
        self.concat_layer = nn.Linear(hidden_size + self.features.output_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout_prob)
        self.apply(partial(init_transformer_weights, initializer_range=initializer_range))  # the feature tables too

    @classmethod
    def build(cls, settings: SASRecFSettings, catalogue: Catalogue) -> "SASRecF":
        return cls(catalogue.n_items, catalogue.item_features, catalogue.max_history, settings.n_layers,
                   settings.n_heads, settings.hidden_size, settings.inner_size, settings.hidden_dropout_prob,
                   settings.attn_dropout_prob, settings.hidden_act, settings.layer_norm_eps,
                   settings.initializer_range, settings.pooling_mode, settings.loss_type)

    def _encode(self, items: torch.Tensor, at: Optional[torch.Tensor]) -> torch.Tensor:
        """[B, L] right-padded item ids -> the output at every step [B, L, H] (causal: step i reads
        items <= i), or with `at` [B] at that step of each row [B, H]."""
        joined = torch.cat([self.item_embedding(items), self.features(items)], dim=-1)  # [B, L, H + F * H]
        positions = torch.arange(items.shape[1], device=items.device)  # [L]
        hidden = self.dropout(self.LayerNorm(self.concat_layer(joined) + self.position_embedding(positions)))
        return self.trm_encoder(hidden, causal_mask(items), at=at)  # [B, L, H] or [B, H]


MODEL = ModelSpec("SASRecF", SASRecFSettings, SASRecF,
                  "SASRec (Kang and McAuley, ICDM 2018) with item features joined to the item embeddings "
                  "(RecBole's SASRecF)", train_modes=("augment", "sequence"),
                  defaults={"segment_length": 25, "warmup_length": 25})  # rows of 50 = MAX_ITEM_LIST_LENGTH
