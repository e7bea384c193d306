"""Caser (Tang & Wang, WSDM 2018) as RecBole 1.2.1 computes it.

The last MAX_ITEM_LIST_LENGTH (W) items of a history, right-padded with item 0 to W rows (RecBole's
padded sequence: the padding row's embedding is not zero and takes part), form a [W, E] image.
`nv` vertical filters span all W rows (a weighted sum of rows per filter); `nh` horizontal filters
of each height h = 1..W span h rows and every column, then ReLU and max-pooling over positions.
Their outputs -> dropout -> ReLU(fc1) -> concatenated with the user's embedding -> ReLU(fc2) is the
representation (RecBole's choice of one target per example, the paper's T = 1).

RecBole's loss adds reg_weight times the L2 norms (not squared) of the user and item embeddings,
the vertical filters, fc1's and fc2's weights and every horizontal filter's weights.

In train_mode 'sequence' a row is read once: the filters run along the whole row, so a window
position shared by W consecutive targets is convolved once instead of W times, and each target
max-pools the positions of its own window. The first W - 1 targets of a row (histories shorter
than W, whose windows end in padding rows) take their windows' sums from running sums over the
filter rows. Every target's representation is the one `encode` gives its history.
"""
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from ..data.batching import Batch
from ..data.sequence_batches import Chunk
from ..errors import ConfigError
from .base import SequentialRecommender, loss_type_setting
from .spec import Catalogue, ModelSettings, ModelSpec


HEIGHT_GROUPS = 4  # train_mode 'sequence': filter heights in this many products (fewer zero rows than one)


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
        return self._output(torch.cat(parts, dim=1), self.user_embedding(users))  # [B, E]

    def _output(self, features: torch.Tensor, user: torch.Tensor) -> torch.Tensor:
        """The convolution features [..., F] and the user's embedding [..., E] -> the representation
        [..., E]: dropout, ReLU(fc1), joined with the user, ReLU(fc2)."""
        hidden = torch.relu(self.fc1(self.dropout(features)))
        return torch.relu(self.fc2(torch.cat([hidden, user], dim=-1)))

    def encode_steps(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None,
                     users: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """[b, l] item ids following `state` (the row's last W - 1 ids read before, or fewer if the
        row is that short so far; None at its start) and [b] user ids -> the representation after
        every step [b, l, E] (each `encode` of the row up to it) and the state after the chunk."""
        if users is None:
            raise TypeError("Caser scores a user's history: its batches need user ids (chunk.users)")
        ids = inputs if state is None else torch.cat([state, inputs], dim=1)  # [b, P + l]
        first, width = ids.shape[1] - inputs.shape[1], self.max_history
        embedded = self.item_embedding(ids)  # [b, P + l, E]
        parts = []
        if first < width - 1:  # steps 0..W-2 of the row: histories shorter than W
            parts.append(self._short_windows(embedded[:, :width - 1])[:, first:])
        if ids.shape[1] >= width:
            parts.append(self._full_windows(embedded)[:, max(0, first - width + 1):])
        user = self.user_embedding(users).unsqueeze(1).expand(-1, inputs.shape[1], -1)  # [b, l, E]
        return self._output(torch.cat(parts, dim=1), user), ids[:, max(0, ids.shape[1] - width + 1):]

    @staticmethod
    def carry(state: torch.Tensor, rows: int) -> torch.Tensor:
        """The last ids of the first `rows` rows (the rows still running)."""
        return state[:rows]

    def _kernels(self) -> List[torch.Tensor]:
        """Each horizontal filter bank's weights as [h (row), E, nh], heights 1..W."""
        return [conv.weight[:, 0].permute(1, 2, 0) for conv in self.conv_h]

    def _full_windows(self, embedded: torch.Tensor) -> torch.Tensor:
        """[b, T, E] embedded row -> the convolution features [b, T - W + 1, F] of its windows of
        W items (window a: items a..a+W-1), in `encode`'s order (vertical, then horizontal by height)."""
        width, (b, steps, size) = self.max_history, embedded.shape
        parts = []
        if self.conv_v is not None:  # each embedding column is a 1-channel signal
            rows = embedded.transpose(1, 2).reshape(b * size, 1, steps)
            vertical = F.conv1d(rows, self.conv_v.weight.view(-1, 1, width), self.conv_v.bias)  # [b*E, nv, T-W+1]
            parts.append(vertical.view(b, size, -1, steps - width + 1).permute(0, 3, 2, 1).flatten(2))
        if len(self.conv_h):
            parts.append(self._full_horizontal(embedded))
        return torch.cat(parts, dim=2)

    def _full_horizontal(self, embedded: torch.Tensor) -> torch.Tensor:
        """The horizontal features [b, T - W + 1, W * nh] of every window of W items: each filter at
        every start s of the row (one product per group of heights, over as many rows as the group's
        tallest filter; rows past the end read zeros), then a sliding max over each window's starts."""
        width, (b, steps, _) = self.max_history, embedded.shape
        windows = F.pad(embedded, (0, 0, 0, width - 1)).unfold(1, width, 1).transpose(2, 3)  # [b, T, W, E]
        filters = torch.stack([F.pad(kernel, (0, 0, 0, 0, 0, width - kernel.shape[0])) for kernel in self._kernels()],
                              dim=2)  # zero-padded to W rows: [W (row k), E, W (height h), nh]
        biases = torch.stack([conv.bias for conv in self.conv_h])  # [W (h), nh]
        tallest = {round(width * (g + 1) / HEIGHT_GROUPS) for g in range(HEIGHT_GROUPS)} - {0}
        pooled, low = [], 0
        for high in sorted(tallest):  # heights low+1..high read the window's first `high` rows
            group = windows[:, :, :high].flatten(2) @ filters[:high, :, low:high].flatten(0, 1).flatten(1)
            starts = (group + biases[low:high].flatten()).view(b, steps, high - low, -1).permute(0, 2, 3, 1)
            pooled += [F.max_pool1d(starts[:, height - low - 1], width - height + 1, stride=1)[:, :, :steps - width + 1]
                       for height in range(low + 1, high + 1)]  # window a: max over its starts a..a+W-h
            low = high
        return torch.relu(torch.cat(pooled, dim=1)).transpose(1, 2)  # [b, T - W + 1, W * nh]

    def _short_windows(self, embedded: torch.Tensor) -> torch.Tensor:
        """[b, M, E] the first M <= W - 1 embedded items of a row -> the features [b, M, F] of its
        first M histories (history m: items 0..m-1, then W - m padding rows, as `_window` pads).
        With D = item - padding embeddings, a filter covering r real items sums to its sum over
        padding rows alone plus its first r rows' sum over D: running sums over the filter rows."""
        width, (b, steps, size) = self.max_history, embedded.shape
        padding = self.item_embedding.weight[0].detach()  # [E]; no gradient, as through the lookup
        offsets = embedded - padding  # [b, M, E]
        parts = []
        if self.conv_v is not None:
            weights = self.conv_v.weight.view(-1, width)  # [nv, W]
            sums = (offsets.unsqueeze(2) * weights[:, :steps].t().unsqueeze(-1)).cumsum(dim=1)  # [b, M, nv, E]
            fixed = weights.sum(1, keepdim=True) * padding + self.conv_v.bias.unsqueeze(1)  # [nv, E]
            parts.append((sums + fixed).flatten(2))  # [b, M, nv * E]
        if len(self.conv_h):
            parts.append(self._short_horizontal(offsets, padding))
        return torch.cat(parts, dim=2)

    def _short_horizontal(self, offsets: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """The horizontal features [b, M, W * nh] of the first M histories. Filter h at start s of
        history m covers r = clamp(m - s, 0, h) real items: its all-padding sum and bias plus the
        running sum over its first r rows of D at s."""
        width, (b, steps, _) = self.max_history, offsets.shape
        m = torch.arange(1, steps + 1, device=offsets.device).view(-1, 1)  # [M, 1]
        kernels = self._kernels()
        products = offsets @ torch.cat(kernels).permute(1, 0, 2).flatten(1)  # [b, M, sum h * nh]: row k of filter h
        per_filter = products.split([kernel.shape[0] * kernel.shape[2] for kernel in kernels], dim=2)
        features = []
        for height, (kernel, conv, own) in enumerate(zip(kernels, self.conv_h, per_filter), start=1):
            # own [b, M, h * nh]: the products of filter h's rows
            starts = min(width - height + 1, steps)  # the starts some history reads items at
            s = torch.arange(starts, device=offsets.device).view(-1, 1)
            k = torch.arange(height, device=offsets.device).view(1, -1)
            at = ((s + k).clamp(max=steps - 1) * height + k).flatten()  # item s + k times filter row k
            rows = own.reshape(b, steps * height, -1).index_select(1, at).view(b, starts, height, -1)
            rows = rows.masked_fill((s + k >= steps).unsqueeze(-1), 0.0).cumsum(dim=2)  # [b, S, h (r - 1), nh]
            fixed = padding @ kernel.sum(0) + conv.bias  # [nh]: the filter over padding rows only
            running = torch.cat([rows.new_zeros(b, starts, 1, rows.shape[-1]), rows], dim=2) + fixed  # r = 0..h
            s = torch.arange(width - height + 1, device=offsets.device).view(1, -1)  # every start of the filter
            r = (m - s).clamp(min=0).clamp(max=height)  # [M, W - h + 1]
            index = s.clamp(max=starts - 1) * (height + 1) + r  # r = 0 (all padding): any start reads the same
            values = running.flatten(1, 2).index_select(1, index.flatten()).view(b, steps, -1, rows.shape[-1])
            features.append(values.amax(dim=2))  # [b, M, nh]
        return torch.relu(torch.cat(features, dim=2))  # relu(max) = max(relu) over the starts: [b, M, W * nh]

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

    def sequence_loss(self, chunk: Chunk, state: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The summed loss at every target of `chunk` plus `regularisation` once per target, so the
        trainer's mean over a batch's targets adds it once, as `loss` does."""
        outputs, state = self.encode_steps(chunk.inputs, state, chunk.users)
        targets = int((chunk.targets != 0).sum())
        return self._steps_loss(outputs, chunk) + targets * self.regularisation(), state

    def full_scores(self, batch: Batch) -> torch.Tensor:
        return self.encode(batch.history, batch.lengths, batch.users) @ self.item_embedding.weight.t()


MODEL = ModelSpec("Caser", CaserSettings, Caser,
                  "Tang & Wang, Personalized Top-N Sequential Recommendation via Convolutional Sequence "
                  "Embedding (WSDM 2018)", needs_users=True, train_modes=("augment", "sequence"),
                  defaults={"segment_length": None, "chunk_length": 100})  # whole rows: each window position once
