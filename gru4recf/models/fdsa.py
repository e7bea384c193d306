"""FDSA (Zhang et al., IJCAI 2019) as RecBole 1.2.1 computes it.

Two causal self-attention streams read a history in parallel: the item stream reads the item
embeddings, the feature stream reads, at each step, the item's feature embeddings pooled by a
vanilla attention over the features (an MLP scores each feature, softmax over the features).
Both add the same position embedding and go through the same LayerNorm and dropout; the
concatenated outputs pass a dense layer, that LayerNorm again and dropout, and score items against
the item embeddings. The dense layer over [item ; feature] is computed as one block per stream
plus a shared bias (the same linear map), so that each stream is a subnet that the training
strategies can train, freeze or silence (`parameter_groups`, `silence`); the item embeddings, the
position embedding and the shared LayerNorm are the `output` group.

Train mode 'sequence' reads each training row in one causal pass (`CausalSteps`).
"""
from dataclasses import dataclass
from functools import partial
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

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

SUBNETS = ("item", "feature")


@dataclass(frozen=True)
class FDSASettings(ModelSettings):
    """RecBole 1.2.1's FDSA.yaml keys and defaults."""

    title = "FDSA"
    n_layers: int = setting(2, c.integer(1), "Number of transformer layers of each stream.")
    n_heads: int = setting(2, c.integer(1), "Attention heads per layer (hidden_size must be a multiple).")
    hidden_size: int = setting(64, c.integer(1), "Size of the item and feature embeddings and of every layer.")
    inner_size: int = setting(256, c.integer(1), "Size of the feed-forward layers.")
    hidden_dropout_prob: float = setting(0.5, c.number(0.0, 1.0, max_open=True), "Dropout on hidden states.")
    attn_dropout_prob: float = setting(0.5, c.number(0.0, 1.0, max_open=True), "Dropout on attention probabilities.")
    hidden_act: str = hidden_act_setting()
    layer_norm_eps: float = setting(1e-12, c.number(0.0, min_open=True), "Epsilon of the LayerNorm.")
    initializer_range: float = setting(0.02, c.number(0.0, min_open=True),
                                       "Standard deviation of the normal initialisation.")
    selected_features: list = setting(
        ["class"], c.string_list(),
        "Item features read by the feature stream: .item columns (token, token_seq, float, float_seq) or "
        "item_vector_files names.")
    pooling_mode: str = setting("mean", c.one_of(["sum", "mean", "max"]), "How a token_seq feature's tokens are pooled.")
    loss_type: str = loss_type_setting()

    def item_features(self) -> List[str]:
        return list(self.selected_features)

    def subnets(self) -> Tuple[str, ...]:
        return SUBNETS

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """Heads against the width; train_mode 'sequence' rows must fit the position table."""
        check_heads(values, "FDSA")
        check_rows_fit_positions(values, "FDSA")
        return []


class VanillaAttention(nn.Module):
    """Pools [..., F, H] feature embeddings to [..., H]: an MLP scores each, softmax over the F features
    (RecBole's VanillaAttention, with its parameter names)."""

    def __init__(self, hidden_size: int, attention_size: int) -> None:
        super().__init__()
        self.projection = nn.Sequential(nn.Linear(hidden_size, attention_size), nn.ReLU(True),
                                        nn.Linear(attention_size, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.projection(features).squeeze(-1), dim=-1)  # [..., F]
        return (features * weights.unsqueeze(-1)).sum(dim=-2)  # [..., H]


class FDSA(CausalSteps, SequentialRecommender):
    """An item and a feature self-attention stream, joined by a dense layer (see the module docstring)."""

    def __init__(self, n_items: int, item_features: Sequence[FeatureField], max_history: int, n_layers: int = 2,
                 n_heads: int = 2, hidden_size: int = 64, inner_size: int = 256, hidden_dropout_prob: float = 0.5,
                 attn_dropout_prob: float = 0.5, hidden_act: str = "gelu", layer_norm_eps: float = 1e-12,
                 initializer_range: float = 0.02, pooling_mode: str = "mean", loss_type: str = "CE") -> None:
        super().__init__(n_items, hidden_size, loss_type)
        self.hidden_size = hidden_size
        self.position_embedding = nn.Embedding(max_history, hidden_size)
        self.features = ItemFeatureEncoder(item_features, hidden_size, pooling_mode)  # [..., F * H]
        encoder = lambda: TransformerEncoder(n_layers, n_heads, hidden_size, inner_size, hidden_dropout_prob,
                                             attn_dropout_prob, hidden_act, layer_norm_eps)
        self.item_trm_encoder = encoder()
        self.feature_att_layer = VanillaAttention(hidden_size, hidden_size)
        self.feature_trm_encoder = encoder()
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)  # shared by both inputs and the output
        self.dropout = nn.Dropout(hidden_dropout_prob)
        # RecBole's concat_layer Linear(2H, H), one block per stream
        self.heads = nn.ModuleDict({name: nn.Linear(hidden_size, hidden_size, bias=False) for name in SUBNETS})
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.apply(partial(init_transformer_weights, initializer_range=initializer_range))

    @classmethod
    def build(cls, settings: FDSASettings, catalogue: Catalogue) -> "FDSA":
        return cls(catalogue.n_items, catalogue.item_features, catalogue.max_history, settings.n_layers,
                   settings.n_heads, settings.hidden_size, settings.inner_size, settings.hidden_dropout_prob,
                   settings.attn_dropout_prob, settings.hidden_act, settings.layer_norm_eps,
                   settings.initializer_range, settings.pooling_mode, settings.loss_type)

    def feature_stream_input(self, items: torch.Tensor) -> torch.Tensor:
        """[B, L] item ids -> the feature stream's input [B, L, H], read from the items' features only."""
        features = self.features(items)  # [B, L, F * H]
        features = features.view(*features.shape[:-1], -1, self.hidden_size)  # [B, L, F, H]
        return self.feature_att_layer(features)  # [B, L, H]

    def _encode(self, items: torch.Tensor, at: Optional[torch.Tensor]) -> torch.Tensor:
        """[B, L] right-padded item ids -> the output at every step [B, L, H] (causal: step i reads
        items <= i), or with `at` [B] at that step of each row [B, H]."""
        positions = self.position_embedding(torch.arange(items.shape[1], device=items.device))  # [L, H]
        mask = causal_mask(items)
        item_input = self.dropout(self.LayerNorm(self.item_embedding(items) + positions))  # [B, L, H]
        feature_input = self.dropout(self.LayerNorm(self.feature_stream_input(items) + positions))  # [B, L, H]
        item_output = self.item_trm_encoder(item_input, mask, at=at)  # [B, L, H] or [B, H]
        feature_output = self.feature_trm_encoder(feature_input, mask, at=at)
        joined = self.heads["item"](item_output) + self.heads["feature"](feature_output) + self.bias
        return self.dropout(self.LayerNorm(joined))  # [B, L, H] or [B, H]


    def parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """`item`: the item stream; `feature`: the feature encoders, the feature attention and stream;
        `output`: the item embeddings (input of the item stream and output layer), the position
        embedding, the shared LayerNorm and the dense layer's bias."""
        parts = {"item": [self.item_trm_encoder, self.heads["item"]],
                 "feature": [self.features, self.feature_att_layer, self.feature_trm_encoder, self.heads["feature"]],
                 "output": [self.item_embedding, self.position_embedding, self.LayerNorm]}
        groups = {name: [p for module in modules for p in module.parameters()] for name, modules in parts.items()}
        groups["output"].append(self.bias)
        return groups

    def silence(self, subnet: str) -> None:
        """Zeroes `subnet`'s block of the dense layer so that its stream adds nothing until trained."""
        with torch.no_grad():
            self.heads[subnet].weight.zero_()


MODEL = ModelSpec("FDSA", FDSASettings, FDSA,
                  "Zhang et al., Feature-level Deeper Self-Attention Network for Sequential Recommendation "
                  "(IJCAI 2019)", train_modes=("augment", "sequence"),
                  defaults={"segment_length": 25, "warmup_length": 25})  # rows of 50 = MAX_ITEM_LIST_LENGTH
