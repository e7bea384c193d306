"""NARM (Li et al., CIKM 2017) as RecBole 1.2.1 computes it.

A GRU (no bias) reads the item embeddings. After step t, the global encoder's output is the GRU
output h_t, the local encoder's the sum over the history's steps j <= t of h_j weighted by
v^T sigmoid(A1 h_j + A2 h_t): RecBole's attention, not normalised by a softmax. The representation
is B [c_local ; h_t] (no bias), with dropout on the embeddings and on [c_local ; h_t].

train_mode 'sequence': step t attends to every GRU output of its prefix, so the state carried from
one chunk to the next is the GRU's hidden state and every GRU output read so far; each step's output
is then `encode` of its whole prefix, whatever the chunk length. Attention costs O(prefix) per step:
segments (`segment_length`) bound it.
"""
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import torch
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from ..errors import ConfigError
from .base import SequentialRecommender, loss_type_setting
from .layers import gather_last
from .spec import Catalogue, ModelSettings, ModelSpec

State = Tuple[torch.Tensor, torch.Tensor]  # GRU hidden [layers, B, H], GRU outputs so far [B, T, H]


def _two_dropouts(key: str, value: Any) -> list:
    value = c._literal(value)
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1 for v in value)
    if not ok:
        raise ConfigError(f"config key '{key}' has value {value!r}; expected two dropout rates in [0, 1), "
                          "on the item embeddings and on the encoders' concatenated output, e.g. [0.25, 0.5]")
    return [float(v) for v in value]


_two_dropouts.allowed = "two numbers in [0, 1)"


@dataclass(frozen=True)
class NARMSettings(ModelSettings):
    """RecBole 1.2.1's NARM.yaml keys and defaults."""

    title = "NARM"
    embedding_size: int = setting(64, c.integer(1), "Size of the item embeddings (the output layer too).")
    hidden_size: int = setting(128, c.integer(1), "Size of the GRU hidden state and of the attention.")
    n_layers: int = setting(1, c.integer(1), "Number of stacked GRU layers.")
    dropout_probs: list = setting([0.25, 0.5], _two_dropouts,
                                  "Dropout on the item embeddings and on [local ; global] encoder outputs.")
    loss_type: str = loss_type_setting()


class NARM(SequentialRecommender):
    """Item embedding -> dropout -> GRU; attention over the GRU outputs -> dropout -> dense layer."""

    def __init__(self, n_items: int, embedding_size: int = 64, hidden_size: int = 128, n_layers: int = 1,
                 dropout_probs: Tuple[float, float] = (0.25, 0.5), loss_type: str = "CE") -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.emb_dropout = nn.Dropout(dropout_probs[0])
        self.gru = nn.GRU(embedding_size, hidden_size, n_layers, bias=False, batch_first=True)
        self.a_1 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.a_2 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.v_t = nn.Linear(hidden_size, 1, bias=False)
        self.ct_dropout = nn.Dropout(dropout_probs[1])
        self.b = nn.Linear(2 * hidden_size, embedding_size, bias=False)
        # RecBole's initialisation, in its order: Xavier-normal embeddings (the padding row too) and
        # dense layers; the GRU keeps torch's default
        for weight in (self.item_embedding.weight, self.a_1.weight, self.a_2.weight, self.v_t.weight, self.b.weight):
            nn.init.xavier_normal_(weight)

    @classmethod
    def build(cls, settings: NARMSettings, catalogue: Catalogue) -> "NARM":
        return cls(catalogue.n_items, settings.embedding_size, settings.hidden_size, settings.n_layers,
                   tuple(settings.dropout_probs), settings.loss_type)

    def _output(self, local: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        return self.b(self.ct_dropout(torch.cat([local, last], dim=-1)))  # [..., 2H] -> [..., E]

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.gru(self.emb_dropout(self.item_embedding(history)))  # [B, L, H]
        last = gather_last(outputs, lengths)  # [B, H]: the global encoder
        mask = (history != 0).unsqueeze(-1)  # [B, L, 1]: padding gets no weight
        alpha = self.v_t(mask * torch.sigmoid(self.a_1(outputs) + self.a_2(last).unsqueeze(1)))  # [B, L, 1]
        local = (alpha * outputs).sum(dim=1)  # [B, H]
        return self._output(local, last)  # [B, E]

    def encode_steps(self, inputs: torch.Tensor, state: Optional[State] = None) -> Tuple[torch.Tensor, State]:
        hidden, memory = (None, None) if state is None else state
        outputs, hidden = self.gru(self.emb_dropout(self.item_embedding(inputs)), hidden)  # [b, l, H]
        keys = outputs if memory is None else torch.cat([memory, outputs], dim=1)  # [b, T + l, H]
        steps, past = inputs.shape[1], keys.shape[1] - inputs.shape[1]
        # step i of the chunk (position past + i) attends to positions <= past + i; padding only
        # follows a row's last step, so no step of a row attends to it
        causal = torch.ones(steps, past + steps, dtype=torch.bool, device=inputs.device).tril(past)  # [l, T + l]
        scores = torch.sigmoid(self.a_1(keys).unsqueeze(1) + self.a_2(outputs).unsqueeze(2))  # [b, l, T + l, H]
        alpha = self.v_t(scores).squeeze(-1) * causal  # [b, l, T + l]
        local = alpha @ keys  # [b, l, H]
        return self._output(local, outputs), (hidden, keys)  # [b, l, E]

    @staticmethod
    def carry(state: State, rows: int) -> State:
        """The first `rows` rows' GRU state and outputs, detached: gradients stop at the chunk edge."""
        hidden, memory = state
        return hidden[:, :rows].detach(), memory[:rows].detach()


MODEL = ModelSpec("NARM", NARMSettings, NARM,
                  "Li et al., Neural Attentive Session-based Recommendation (CIKM 2017)",
                  train_modes=("augment", "sequence"))
