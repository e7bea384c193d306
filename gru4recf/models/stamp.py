"""STAMP (Liu et al., KDD 2018) as RecBole 1.2.1 computes it.

After a history x_1..x_n of item embeddings, with the last click x_n and the history's mean m_s:
attention weights a_i = w0 . sigmoid(W1 x_i + W2 x_n + W3 m_s + b_a) (not normalised), the memory
m_a = sum_i a_i x_i + m_s, and the representation tanh(MLP_a(m_a)) * tanh(MLP_b(x_n)) (RecBole
drops the paper's final sigmoid).

RecBole pads every history to MAX_ITEM_LIST_LENGTH with item 0, whose embedding is not zero
(its initialisation overwrites the padding row, which the output layer then trains), and its sums
run over the padded width: m_s = (sum_i x_i + p x_0) / n and m_a gains p a_0 x_0, for
p = MAX_ITEM_LIST_LENGTH - n padding steps. This module adds those p terms itself, so its output
does not depend on how wide a batch is padded; a prefix longer than MAX_ITEM_LIST_LENGTH (train_mode
'sequence') has none.

train_mode 'sequence': step t attends to every item of its prefix, so the state carried from one
chunk to the next is the item ids read so far; each step's output is `encode` of its whole prefix,
whatever the chunk length. Attention costs O(prefix) per step: segments (`segment_length`) bound it.
"""
from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..config import checks as c
from ..config.settings import setting
from .base import SequentialRecommender, loss_type_setting
from .spec import Catalogue, ModelSettings, ModelSpec


@dataclass(frozen=True)
class STAMPSettings(ModelSettings):
    """RecBole 1.2.1's STAMP.yaml keys and defaults."""

    title = "STAMP"
    embedding_size: int = setting(64, c.integer(1), "Size of the item embeddings (attention and output layer too).")
    loss_type: str = loss_type_setting()


class STAMP(SequentialRecommender):
    """Attention over the history's embeddings, given the last click and their mean; two MLPs."""

    def __init__(self, n_items: int, embedding_size: int = 64, loss_type: str = "CE", max_history: int = 50) -> None:
        super().__init__(n_items, embedding_size, loss_type)
        self.max_history = max_history
        self.w1 = nn.Linear(embedding_size, embedding_size, bias=False)
        self.w2 = nn.Linear(embedding_size, embedding_size, bias=False)
        self.w3 = nn.Linear(embedding_size, embedding_size, bias=False)
        self.w0 = nn.Linear(embedding_size, 1, bias=False)
        self.b_a = nn.Parameter(torch.zeros(embedding_size))
        self.mlp_a = nn.Linear(embedding_size, embedding_size)
        self.mlp_b = nn.Linear(embedding_size, embedding_size)
        # RecBole's initialisation, in its order: embeddings normal(0, 0.002) (the padding row too),
        # dense weights normal(0, 0.05), biases zero
        nn.init.normal_(self.item_embedding.weight, 0.0, 0.002)
        for layer in (self.w1, self.w2, self.w3, self.w0, self.mlp_a, self.mlp_b):
            nn.init.normal_(layer.weight, 0.0, 0.05)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    @classmethod
    def build(cls, settings: STAMPSettings, catalogue: Catalogue) -> "STAMP":
        return cls(catalogue.n_items, settings.embedding_size, settings.loss_type, catalogue.max_history)

    def _represent(self, ids: torch.Tensor, widths: torch.Tensor, seen: torch.Tensor, last: torch.Tensor,
                   sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """The representation after Q queries over K keys: `ids` [b, K] the keys' item ids, of which
        no query reads past `widths` [b], `seen` [b, Q, K] (1 or 0) which keys each query's history
        holds, `last` [b, Q, E] its last click, `sums` [b, Q, E] the sum of its history's embeddings,
        `counts` [b, Q] its length -> [b, Q, E]."""
        table = self.item_embedding.weight  # [N, E]
        # [E]; as in RecBole, where padding reaches the sums through the lookup's padding_idx, these
        # terms send no gradient to the padding row (only the output layer trains it)
        padding = table[0].detach()
        pads = (self.max_history - counts).clamp(min=0).unsqueeze(-1).to(table.dtype)  # [b, Q, 1]
        mean = (sums + pads * padding) / counts.unsqueeze(-1)  # [b, Q, E]: RecBole's m_s over the padded width
        query = self.w2(last) + self.w3(mean) + self.b_a  # [b, Q, E]
        attended = AttentionMemory.apply(table, self.w1(table), ids, query, self.w0.weight[0], seen, widths,
                                         torch.is_grad_enabled())  # [b, Q, E]
        alpha_pad = self.w0(torch.sigmoid(self.w1(padding) + query))  # [b, Q, 1]
        memory = attended + pads * alpha_pad * padding + mean  # [b, Q, E]
        return torch.tanh(self.mlp_a(memory)) * torch.tanh(self.mlp_b(last))

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        table = self.item_embedding.weight
        seen = (torch.arange(history.shape[1], device=history.device) < lengths.unsqueeze(-1)).to(table.dtype)  # [B, L]
        last = self.item_embedding(history.gather(1, (lengths - 1).unsqueeze(-1)))  # [B, 1, E]
        sums = F.embedding_bag(history, table, mode="sum", padding_idx=0).unsqueeze(1)  # [B, 1, E]
        return self._represent(history, lengths, seen.unsqueeze(1), last, sums, lengths.unsqueeze(-1)).squeeze(1)  # [B, E]

    def encode_steps(self, inputs: torch.Tensor, state: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        ids = inputs if state is None else torch.cat([state, inputs], dim=1)  # [b, T + l]: the prefix read so far
        steps, past = inputs.shape[1], ids.shape[1] - inputs.shape[1]
        items = self.item_embedding(ids)  # [b, T + l, E]
        seen = torch.ones(steps, past + steps, dtype=items.dtype, device=inputs.device).tril(past)  # [l, T + l]
        counts = torch.arange(past + 1, past + steps + 1, device=inputs.device).expand(len(ids), -1)  # [b, l]
        sums = items.cumsum(dim=1)[:, past:]  # [b, l, E]
        widths = (ids != 0).sum(dim=1)  # [b]: rows are right-padded, and a padded step's output is unused
        outputs = self._represent(ids, widths, seen.expand(len(ids), -1, -1), items[:, past:], sums, counts)  # [b, l, E]
        return outputs, ids

    @staticmethod
    def carry(state: torch.Tensor, rows: int) -> torch.Tensor:
        """The item ids read so far by the first `rows` rows (the rows still running)."""
        return state[:rows]


PIECE = 1 << 18  # elements of a [rows, Q, width, E] piece; 2^17-2^18 were fastest on ml-100k, 2^20 20-50% slower


class AttentionMemory(torch.autograd.Function):
    """STAMP's attended memory sum_k seen[b, q, k] a[b, q, k] table[ids[b, k]] [b, Q, E], with the
    weights a[b, q, k] = w0 . sigmoid(keys[ids[b, k]] + query[b, q]), from the item table [N, E],
    its projection `keys` [N, E], `ids` [b, K] of which no query reads past `widths` [b], `query`
    [b, Q, E], `w0` [E] and the constant mask `seen` [b, Q, K]; `keep` when backward will run.

    Autograd's version builds the [b, Q, K, E] sigmoid in one piece, over the padding too, reduces
    it with a matrix-vector product and spreads the gradients back with outer products. This one
    works in pieces of rows of one width (_pieces), each small enough to stay in cache while it is
    built and reduced, and skips most of the padding: an ml-100k `augment` epoch on one CPU thread
    took 5.3 s against 9.0 s (both beside a RecBole run on the other core)."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, keys: torch.Tensor, ids: torch.Tensor, query: torch.Tensor,
                w0: torch.Tensor, seen: torch.Tensor, widths: torch.Tensor, keep: bool) -> torch.Tensor:
        ctx.save_for_backward(table, keys, w0)
        ctx.pieces = []  # kept for backward (building them again there made a step 20% slower)
        out = query.new_empty(query.shape)
        for piece in _pieces(table, keys, ids, query, w0, seen, widths):
            out[piece.rows] = piece.weights @ piece.embedded
            if keep:
                ctx.pieces.append(piece)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        table, keys, w0 = ctx.saved_tensors
        grad_table, grad_keys = torch.zeros_like(table), torch.zeros_like(keys)
        grad_query, grad_w0 = torch.empty_like(grad), torch.zeros_like(w0)
        pieces, ctx.pieces = ctx.pieces, None
        for piece in pieces:
            part = grad[piece.rows]  # [r, Q, E]
            grad_weights = (part @ piece.embedded.transpose(1, 2)) * piece.seen  # [r, Q, w]
            used = piece.weights.transpose(1, 2).contiguous()  # [r, w, Q]
            # one query: a broadcast product, 20x faster than a batched outer product
            spread = used * part if used.shape[2] == 1 else used @ part  # [r, w, E]
            grad_table.index_add_(0, piece.flat, spread.reshape(-1, spread.shape[-1]))
            grad_w0.addmv_(piece.sigmoid.reshape(-1, len(w0)).t(), grad_weights.reshape(-1))
            # d a / d (key + query) without its factor w0, which is applied once to the sums below
            slope = torch.addcmul(piece.sigmoid, piece.sigmoid, piece.sigmoid, value=-1).mul_(grad_weights.unsqueeze(-1))
            grad_query[piece.rows] = slope.sum(dim=2)
            # one query (augment): the sum over queries would copy slope, 3x the time of the pass above
            per_key = slope.squeeze(1) if slope.shape[1] == 1 else slope.sum(dim=1)  # [r, w, E]
            grad_keys.index_add_(0, piece.flat, per_key.reshape(-1, len(w0)))
        return grad_table, grad_keys.mul_(w0), None, grad_query.mul_(w0), grad_w0, None, None, None


class _Piece(NamedTuple):
    rows: torch.Tensor  # [r] row numbers
    flat: torch.Tensor  # [r * w] their first w ids
    embedded: torch.Tensor  # [r, w, E] their embeddings
    seen: torch.Tensor  # [r, Q, w]
    sigmoid: torch.Tensor  # [r, Q, w, E]
    weights: torch.Tensor  # [r, Q, w]: seen * w0 . sigmoid


def _pieces(table, keys, ids, query, w0, seen, widths):
    """The rows sorted by width and cut into pieces of about PIECE elements, each as wide as its
    widest row, so that padding past a row's width is mostly skipped."""
    order = torch.argsort(widths, descending=True, stable=True)
    sizes = widths[order].tolist()
    start, per_key = 0, query.shape[1] * table.shape[1]
    while start < len(sizes):
        width = max(1, sizes[start])
        rows = order[start:start + max(1, PIECE // (per_key * width))]
        flat = ids[rows, :width].reshape(-1)
        projected = keys.index_select(0, flat).view(len(rows), 1, width, -1)
        sigmoid = (projected + query[rows].unsqueeze(2)).sigmoid_()
        mask = seen[rows, :, :width]
        yield _Piece(rows, flat, table.index_select(0, flat).view(len(rows), width, -1), mask, sigmoid,
                     (sigmoid @ w0) * mask)
        start += len(rows)


MODEL = ModelSpec("STAMP", STAMPSettings, STAMP,
                  "Liu et al., STAMP: Short-Term Attention/Memory Priority Model for Session-based "
                  "Recommendation (KDD 2018)", train_modes=("augment", "sequence"),
                  fastest_mode="augment")  # 4.5-5.4 s per ml-100k epoch against 'sequence' 6.5-7.3 s (docs/results.md)
