"""Transformer layers shared by the attention models, computing what RecBole 1.2.1's
`TransformerEncoder` computes (post-norm BERT blocks), with its parameter names, so that a RecBole
`trm_encoder.state_dict()` loads into `TransformerEncoder` unchanged.

A block: multi-head self-attention (scores scaled by 1/sqrt(head size), plus an additive mask,
softmax, dropout on the probabilities) -> dense -> dropout -> residual -> LayerNorm, then the
feed-forward: dense -> activation -> dense -> dropout -> residual -> LayerNorm.

Masks are additive [B, 1, L, L] (or [B, 1, 1, L]) tensors of 0 (attend) and -10000 (RecBole's
value, not -inf: a masked score underflows to exactly 0 after the softmax, and a row that masks
every key stays finite).

`CausalSteps` gives a causal model train_mode 'sequence' (see `check_rows_fit_positions`).
"""
import math
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from ..errors import ConfigError

MASKED = -10000.0  # RecBole's additive score of a masked key


def gelu(x: torch.Tensor) -> torch.Tensor:
    """RecBole's (BERT's) gelu: x * Phi(x) through erf."""
    return F.gelu(x)  # the same function as one kernel: x * 0.5 * (1 + erf(x / sqrt(2)))


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


ACTIVATIONS: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": gelu, "relu": F.relu, "swish": swish, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def causal_mask(items: torch.Tensor) -> torch.Tensor:
    """[B, L] right-padded item ids -> [B, 1, L, L] additive mask: step i attends to the non-padding
    steps j <= i (RecBole's unidirectional `get_attention_mask`)."""
    keep = (items != 0).unsqueeze(1).unsqueeze(2)  # [B, 1, 1, L]
    keep = torch.tril(keep.expand(-1, -1, items.shape[-1], -1))  # [B, 1, L, L]
    return torch.where(keep, 0.0, MASKED)


def padding_mask(items: torch.Tensor) -> torch.Tensor:
    """[B, L] item ids -> [B, 1, 1, L] additive mask: every step attends to every non-padding step
    (RecBole's bidirectional `get_attention_mask`)."""
    return torch.where((items != 0).unsqueeze(1).unsqueeze(2), 0.0, MASKED)


def init_transformer_weights(module: nn.Module, initializer_range: float) -> None:
    """RecBole's `_init_weights` of its transformer models, for `model.apply`: Linear and Embedding
    weights normal(0, initializer_range) (the padding row too), Linear biases zero, LayerNorm
    weights one and biases zero. An EmbeddingBag (ItemFeatureEncoder's token_seq table, an
    nn.Embedding in RecBole) is an embedding here too."""
    if isinstance(module, (nn.Linear, nn.Embedding, nn.EmbeddingBag)):
        module.weight.data.normal_(mean=0.0, std=initializer_range)
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.data.zero_()


class MultiHeadAttention(nn.Module):
    """Self-attention with `n_heads` heads over [B, L, H], then dense, dropout, residual, LayerNorm."""

    def __init__(self, n_heads: int, hidden_size: int, hidden_dropout_prob: float, attn_dropout_prob: float,
                 layer_norm_eps: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_size = hidden_size // n_heads
        self.scale = math.sqrt(self.head_size)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.attn_dropout = nn.Dropout(attn_dropout_prob)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)  # RecBole's name
        self.out_dropout = nn.Dropout(hidden_dropout_prob)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.n_heads, self.head_size).permute(0, 2, 1, 3)  # [B, h, L, d]

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, at: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[B, L, H] -> [B, L, H]; with `at` [B] only the queries at those steps -> [B, 1, H]."""
        queries = hidden if at is None else hidden.gather(1, at.view(-1, 1, 1).expand(-1, 1, hidden.shape[-1]))
        if at is not None and mask.shape[2] > 1:
            mask = mask.gather(2, at.view(-1, 1, 1, 1).expand(-1, mask.shape[1], 1, mask.shape[-1]))  # [B, 1, 1, L]
        query, key, value = self._heads(self.query(queries)), self._heads(self.key(hidden)), self._heads(self.value(hidden))
        scores = torch.matmul(query, key.transpose(-1, -2)) / self.scale + mask  # [B, h, Lq, L]
        probs = self.attn_dropout(torch.softmax(scores, dim=-1))
        context = torch.matmul(probs, value).permute(0, 2, 1, 3).contiguous()  # [B, Lq, h, d]
        context = context.view(*context.shape[:-2], -1)  # [B, Lq, H]
        return self.LayerNorm(self.out_dropout(self.dense(context)) + queries)


class FeedForward(nn.Module):
    """Point-wise dense -> activation -> dense over [B, L, H], then dropout, residual, LayerNorm."""

    def __init__(self, hidden_size: int, inner_size: int, hidden_dropout_prob: float, hidden_act: str,
                 layer_norm_eps: float) -> None:
        super().__init__()
        self.dense_1 = nn.Linear(hidden_size, inner_size)
        self.activation = ACTIVATIONS[hidden_act]
        self.dense_2 = nn.Linear(inner_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        inner = self.activation(self.dense_1(hidden))  # [B, L, inner]
        return self.LayerNorm(self.dropout(self.dense_2(inner)) + hidden)  # [B, L, H]


class TransformerLayer(nn.Module):
    """One block: self-attention, then feed-forward."""

    def __init__(self, n_heads: int, hidden_size: int, inner_size: int, hidden_dropout_prob: float,
                 attn_dropout_prob: float, hidden_act: str, layer_norm_eps: float) -> None:
        super().__init__()
        self.multi_head_attention = MultiHeadAttention(n_heads, hidden_size, hidden_dropout_prob, attn_dropout_prob,
                                                       layer_norm_eps)
        self.feed_forward = FeedForward(hidden_size, inner_size, hidden_dropout_prob, hidden_act, layer_norm_eps)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, at: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.feed_forward(self.multi_head_attention(hidden, mask, at))


class TransformerEncoder(nn.Module):
    """`n_layers` blocks over [B, L, H] with an additive mask [B, 1, L, L] or [B, 1, 1, L]; returns
    the last block's output [B, L, H] (`all_layers` lists every block's).

    With `at` [B], the output at one step per row [B, H]: the last block then computes only those
    queries (its keys and values still read every step), the same output as taking step `at` of the
    full one at a fraction of the block's cost (an `augment` batch needs one step of 50)."""

    def __init__(self, n_layers: int = 2, n_heads: int = 2, hidden_size: int = 64, inner_size: int = 256,
                 hidden_dropout_prob: float = 0.5, attn_dropout_prob: float = 0.5, hidden_act: str = "gelu",
                 layer_norm_eps: float = 1e-12) -> None:
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of n_heads {n_heads}")
        self.layer = nn.ModuleList(  # RecBole's name: its state_dict keys are layer.<i>....
            TransformerLayer(n_heads, hidden_size, inner_size, hidden_dropout_prob, attn_dropout_prob, hidden_act,
                             layer_norm_eps) for _ in range(n_layers))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, all_layers: bool = False,
                at: Optional[torch.Tensor] = None):
        if at is not None:
            if all_layers:
                raise ValueError("all_layers and at exclude each other")
            for block in self.layer[:-1]:
                hidden = block(hidden, mask)  # [B, L, H]
            return self.layer[-1](hidden, mask, at).squeeze(1)  # [B, H]
        outputs = []
        for block in self.layer:
            hidden = block(hidden, mask)  # [B, L, H]
            outputs.append(hidden)
        return outputs if all_layers else hidden


def check_heads(values: Dict[str, Any], model: str, width_key: str = "hidden_size") -> None:
    """`width_key` (the model width) must be a multiple of `n_heads`: a ConfigError naming both."""
    width, heads = values.get(width_key), values.get("n_heads")
    if width is not None and heads is not None and width % heads:
        raise ConfigError(f"model '{model}': {width_key} {width} must be a multiple of n_heads {heads} "
                          "(each head gets hidden_size / n_heads dimensions)")


def sequence_rows(values: Dict[str, Any]) -> Optional[Tuple[int, Optional[int], int]]:
    """In train_mode 'sequence', (MAX_ITEM_LIST_LENGTH, segment_length, warmup_length) of the
    settings `values`, the warm-up defaulting to MAX_ITEM_LIST_LENGTH as the mode does; None in
    the other modes."""
    if values.get("train_mode") != "sequence":
        return None
    positions, warmup = values["MAX_ITEM_LIST_LENGTH"], values.get("warmup_length")
    return positions, values.get("segment_length"), positions if warmup is None else warmup


def check_rows_fit_positions(values: Dict[str, Any], model: str) -> None:
    """train_mode 'sequence' for a causal attention model with a position table of
    MAX_ITEM_LIST_LENGTH rows: every row (a segment's warm-up plus its targets) is read in one causal
    pass from position 0, so warmup_length + segment_length must be at most MAX_ITEM_LIST_LENGTH
    (whole sequences, segment_length None, do not fit). A ConfigError naming the keys and the model."""
    rows = sequence_rows(values)
    if rows is None:
        return
    positions, segment, warmup = rows
    if segment is None:
        raise ConfigError(f"model '{model}' reads each training row in one pass over its {positions} positions "
                          f"(MAX_ITEM_LIST_LENGTH): train_mode 'sequence' needs segments; set segment_length "
                          f"(with warmup_length + segment_length <= {positions})")
    if warmup + segment > positions:
        raise ConfigError(f"model '{model}' reads each training row in one pass over its {positions} positions: "
                          f"warmup_length {warmup} + segment_length {segment} = {warmup + segment} exceeds "
                          f"MAX_ITEM_LIST_LENGTH {positions}; lower warmup_length or segment_length")


def hidden_act_setting(default: str = "gelu") -> str:
    """The `hidden_act` field (RecBole's key): the feed-forward activation."""
    return setting(default, c.one_of(tuple(ACTIVATIONS)), "Activation of the feed-forward layer.")


class CausalSteps:
    """`encode`, `encode_all`, `encode_steps` and `carry` for a causal attention model, mixed into a
    SequentialRecommender that implements `_encode(items, at)`: the output of one causal pass over
    [B, L] right-padded ids at every step [B, L, H] (`at` None) or at step `at` [B] of each row [B, H]
    (`encode` asks for the last valid step only, so the last block can skip the others).

    The state between chunks is the item ids read so far [B, T]: a chunk is read together with
    them from position 0, so every step's output is exactly `encode` of the history up to it,
    whatever the chunk length (a chunk covering the whole row, the default, reads it once)."""

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._encode(history, lengths - 1)  # [B, H]

    def encode_all(self, items: torch.Tensor) -> torch.Tensor:
        return self._encode(items, None)  # [B, L, H]

    def encode_steps(self, inputs: torch.Tensor, state: torch.Tensor = None) -> tuple:
        items = inputs if state is None else torch.cat([state, inputs], dim=1)  # [B, T + l]
        return self.encode_all(items)[:, -inputs.shape[1]:], items  # [B, l, H], [B, T + l]

    @staticmethod
    def carry(state: torch.Tensor, rows: int) -> torch.Tensor:
        return state[:rows]  # ids of the rows still running (longest first)
