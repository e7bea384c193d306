"""Caser (Tang & Wang, WSDM 2018) as RecBole 1.2.1 computes it.

The last MAX_ITEM_LIST_LENGTH (W) items of a history, right-padded with item 0 to W rows (RecBole's
padded sequence: the padding row's embedding is not zero and takes part), form a [W, E] image.
`nv` vertical filters span all W rows (a weighted sum of rows per filter); `nh` horizontal filters
of each height h = 1..W span h rows and every column, then ReLU and max-pooling over positions.
Their outputs -> dropout -> ReLU(fc1) -> concatenated with the user's embedding -> ReLU(fc2) is the
representation (RecBole's choice of one target per example, the paper's T = 1).

RecBole's loss adds reg_weight times the L2 norms (not squared) of the user and item embeddings,
the vertical filters, fc1's and fc2's weights and every horizontal filter's weights.
"""
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from ..data.batching import Batch
from ..errors import ConfigError
from .base import SequentialRecommender, loss_type_setting
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class CaserSettings(ModelSettings):
    """RecBole 1.2.1's Caser.yaml keys and defaults."""

    title = "Caser"
    embedding_size: int = setting(64, c.integer(1), "Size of the user and item embeddings.")
    dropout_prob: float = setting(0.4, c.number(0.0, 1.0, max_open=True), "Dropout on the convolutions' outputs.")
    reg_weight: float = setting(1e-4, c.number(0.0), "Weight of the L2 norms of the weights added to the loss.")
    nv: int = setting(4, c.integer(0), "Number of vertical filters (0: none; not with nh 0).")
    nh: int = setting(8, c.integer(0), "Number of horizontal filters of each height 1..MAX_ITEM_LIST_LENGTH.")
    loss_type: str = loss_type_setting()

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """At least one kind of filter (RecBole cannot run without either)."""
        if values["nv"] == 0 and values["nh"] == 0:
            raise ConfigError("model 'Caser' needs filters: nv (vertical) and nh (horizontal) are both 0; "
                              "set at least one of them >= 1")
        return []


class Caser(SequentialRecommender):
    """Vertical and horizontal convolutions over the last W item embeddings, plus a user embedding."""

    def __init__(self, n_items: int, n_users: int, max_history: int = 50, embedding_size: int = 64,
                 dropout_prob: float = 0.4, reg_weight: float = 1e-4, nv: int = 4, nh: int = 8,
                 loss_type: str = "CE") -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.max_history = max_history
        self.reg_weight = reg_weight
        self.user_embedding = nn.Embedding(n_users, embedding_size, padding_idx=0)
        self.conv_v = nn.Conv2d(1, nv, (max_history, 1)) if nv else None
        self.conv_h = nn.ModuleList([nn.Conv2d(1, nh, (height, embedding_size)) for height in range(1, max_history + 1)]
                                    if nh else [])
        self.fc1 = nn.Linear(nv * embedding_size + nh * max_history, embedding_size)
        self.fc2 = nn.Linear(2 * embedding_size, embedding_size)
        self.dropout = nn.Dropout(dropout_prob)
        # RecBole's initialisation, in its order (user table first: the item table's construction
        # draws as many numbers as it would have after the user's): embeddings normal(0, 1/E), the
        # padding rows too; dense layers Xavier-normal, zero bias; convolutions keep torch's default
        for table in (self.user_embedding, self.item_embedding):
            nn.init.normal_(table.weight, 0.0, 1.0 / embedding_size)
        for layer in (self.fc1, self.fc2):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    @classmethod
    def build(cls, settings: CaserSettings, catalogue: Catalogue) -> "Caser":
        return cls(catalogue.n_items, catalogue.n_users, catalogue.max_history, settings.embedding_size,
                   settings.dropout_prob, settings.reg_weight, settings.nv, settings.nh, settings.loss_type)

    def _window(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, L] right-padded histories -> [B, W]: the last W items of each, right-padded to W with 0."""
        first = (lengths - self.max_history).clamp(min=0)  # [B]
        positions = first.unsqueeze(1) + torch.arange(self.max_history, device=history.device)  # [B, W]
        items = history.gather(1, positions.clamp(max=history.shape[1] - 1))
        return items.masked_fill(positions >= lengths.unsqueeze(1), 0)

    def encode(self, history: torch.Tensor, lengths: torch.Tensor, users: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[B, L] histories, [B] lengths and [B] user ids -> [B, E]."""
        if users is None:
            raise TypeError("Caser scores a user's history: its batches need user ids (batch.users)")
        image = self.item_embedding(self._window(history, lengths)).unsqueeze(1)  # [B, 1, W, E]
        parts = []
        if self.conv_v is not None:
            parts.append(self.conv_v(image).flatten(1))  # [B, nv, 1, E] -> [B, nv * E]
        rows = image.squeeze(1).transpose(1, 2)  # [B, E, W]: a filter spanning every column is a 1-d one
        for conv in self.conv_h:  # conv1d on [B, E, W] is the Conv2d on [B, 1, W, E], 2x faster on CPUs
            kernel = conv.weight.squeeze(1).transpose(1, 2)  # [nh, 1, h, E] -> [nh, E, h]
            parts.append(torch.relu(F.conv1d(rows, kernel, conv.bias)).amax(dim=2))  # [B, nh, W - h + 1] -> [B, nh]
        hidden = torch.relu(self.fc1(self.dropout(torch.cat(parts, dim=1))))  # [B, E]
        return torch.relu(self.fc2(torch.cat([hidden, self.user_embedding(users)], dim=1)))  # [B, E]

    def regularisation(self) -> torch.Tensor:
        """RecBole's reg terms: reg_weight * (sum of the L2 norms of the weights it names)."""
        weights = [self.user_embedding.weight, self.item_embedding.weight] + \
            ([self.conv_v.weight] if self.conv_v is not None else []) + [self.fc1.weight, self.fc2.weight]
        horizontal = sum(conv.weight.norm(2) for conv in self.conv_h)
        return self.reg_weight * sum(w.norm(2) for w in weights) + self.reg_weight * horizontal

    def loss(self, batch: Batch) -> torch.Tensor:
        """The base class's CE or BPR loss of the batch, plus `regularisation`."""
        output = self.encode(batch.history, batch.lengths, batch.users)
        return self._loss(output, batch.targets, batch.negatives, batch.candidates, "mean") + self.regularisation()

    def full_scores(self, batch: Batch) -> torch.Tensor:
        return self.encode(batch.history, batch.lengths, batch.users) @ self.item_embedding.weight.t()


MODEL = ModelSpec("Caser", CaserSettings, Caser,
                  "Tang & Wang, Personalized Top-N Sequential Recommendation via Convolutional Sequence "
                  "Embedding (WSDM 2018)", needs_users=True)
