"""BERT4Rec (Sun et al., CIKM 2019) as RecBole 1.2.1 computes it.

A bidirectional transformer trained by the cloze objective: each training batch masks items of
its histories (each item with probability `mask_ratio`, or, for a batch drawn with probability
`ft_ratio`, only the last item) by an extra item id, the [MASK] token `n_items`, and predicts the
masked items from the transformer's output there (dense, GELU, LayerNorm, scored against the item
embeddings plus a per-item output bias). The masks are drawn in the model (RecBole 1.2.1 draws
them in its `mask_itemseq` data transform, with Python's `random`), from torch's global generator
(so a run is reproducible from its seed), over the histories of the
`augment` examples, and only the last int(mask_ratio * MAX_ITEM_LIST_LENGTH) masked positions of
a history are scored (the others stay masked in the input). With loss_type BPR each scored
position gets one uniform negative not in its history, drawn here too (the batch's negatives are
for the example's target, which the cloze objective does not score).

train_mode 'sequence' (the paper's own procedure, which reads each user's sequence in windows
instead of RecBole's one history per target): each training row, a segment's warm-up and its
targets, becomes one window, its items with the last target appended, masked as above. An epoch
then reads each item about (warmup_length + segment_length) / segment_length times instead of
about MAX_ITEM_LIST_LENGTH times, so it is that much cheaper and scores that many fewer masks;
consecutive windows of a user overlap by warmup_length items (the paper's sliding window).

To rank items after a history, [MASK] is appended after it and the output there scores every
item; a history of MAX_ITEM_LIST_LENGTH items loses its oldest one so that the input fits the
position table. The [MASK] id is never a candidate: `full_scores` has one column per item id.

RecBole 1.2.1 differs in two ways that are bugs, reproduced with `recbole_masking: True` (to
reproduce RecBole's published numbers):
- its prediction input drops the first item of every history (`reconstruct_test_data` shifts
  every row left by one, not only full ones), so a history shorter than MAX_ITEM_LIST_LENGTH is
  read without its oldest item, and a one-item history as [MASK] alone;
- its loss skips a masked item at the first position (position 0 is its padding marker).
"""
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import torch
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from ..data.batching import Batch
from ..data.sequence_batches import Chunk
from ..errors import ConfigError
from .base import SequentialRecommender, loss_type_setting
from .full_softmax import full_cross_entropy
from .spec import Catalogue, ModelSettings, ModelSpec
from .transformer import TransformerEncoder, check_heads, gelu, hidden_act_setting, init_transformer_weights, \
    padding_mask, sequence_rows


@dataclass(frozen=True)
class BERT4RecSettings(ModelSettings):
    """RecBole 1.2.1's BERT4Rec.yaml keys and defaults."""

    title = "BERT4Rec"
    n_layers: int = setting(2, c.integer(1), "Number of transformer layers.")
    n_heads: int = setting(2, c.integer(1), "Attention heads per layer (hidden_size must be a multiple).")
    hidden_size: int = setting(64, c.integer(1), "Size of the item embeddings and of every layer.")
    inner_size: int = setting(256, c.integer(1), "Size of the feed-forward layer.")
    hidden_dropout_prob: float = setting(0.2, c.number(0.0, 1.0, max_open=True), "Dropout on hidden states.")
    attn_dropout_prob: float = setting(0.2, c.number(0.0, 1.0, max_open=True), "Dropout on attention probabilities.")
    hidden_act: str = hidden_act_setting()
    layer_norm_eps: float = setting(1e-12, c.number(0.0, min_open=True), "Epsilon of the LayerNorms.")
    initializer_range: float = setting(0.02, c.number(0.0, min_open=True),
                                       "Standard deviation of the normal initialisation.")
    mask_ratio: float = setting(0.2, c.number(0.0, 1.0, min_open=True),
                                "Probability that a history item is replaced by [MASK] in training.")
    ft_ratio: float = setting(0.5, c.number(0.0, 1.0),
                              "Probability that a training batch masks only the last item of each history.")
    loss_type: str = loss_type_setting(("CE", "BPR"))  # its cloze objective scores masked positions, not a batch
    recbole_masking: bool = setting(False, c.boolean,
                                    "Reproduce RecBole 1.2.1's bugs: prediction drops each history's first item, "
                                    "the loss skips a mask at position 0.")

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """Heads against the width; mask_ratio must leave at least one scored position; no sampled softmax."""
        check_heads(values, "BERT4Rec")
        length = values.get("MAX_ITEM_LIST_LENGTH")
        if length is not None and int(values["mask_ratio"] * length) < 1:
            raise ConfigError(f"model 'BERT4Rec' scores int(mask_ratio * MAX_ITEM_LIST_LENGTH) masked items per "
                              f"history: mask_ratio {values['mask_ratio']} with MAX_ITEM_LIST_LENGTH {length} "
                              "scores none; raise mask_ratio")
        check_windows_fit_positions(values)
        if values.get("sampled_softmax") is not None:
            raise ConfigError("model 'BERT4Rec' scores its masked items against every item: sampled_softmax does "
                              "not apply; set it to None")
        return []


def check_windows_fit_positions(values: Dict[str, Any]) -> None:
    """train_mode 'sequence': a window (warm-up, targets and the last target) must fit the
    MAX_ITEM_LIST_LENGTH positions and be read as one chunk. A ConfigError naming the keys."""
    rows = sequence_rows(values)
    if rows is None:
        return
    positions, segment, warmup = rows
    chunk = values.get("chunk_length")
    if segment is None or warmup + segment + 1 > positions:
        found = "segment_length None (whole sequences)" if segment is None else \
            f"warmup_length {warmup} + segment_length {segment} + 1 = {warmup + segment + 1}"
        raise ConfigError(f"model 'BERT4Rec' in train_mode 'sequence' reads each row as one window of its items "
                          f"and its last target over {positions} positions (MAX_ITEM_LIST_LENGTH): {found} does "
                          f"not fit; set warmup_length + segment_length <= {positions - 1}")
    if chunk is not None and chunk < warmup + segment:
        raise ConfigError(f"model 'BERT4Rec' in train_mode 'sequence' masks each window as a whole: chunk_length "
                          f"{chunk} is shorter than warmup_length + segment_length = {warmup + segment}; "
                          "raise chunk_length or leave it None")


class BERT4Rec(SequentialRecommender):
    """Item and position embeddings -> LayerNorm -> dropout -> bidirectional transformer -> dense,
    GELU, LayerNorm; scores are the output against item embeddings plus an output bias."""

    def __init__(self, n_items: int, max_history: int, n_layers: int = 2, n_heads: int = 2, hidden_size: int = 64,
                 inner_size: int = 256, hidden_dropout_prob: float = 0.2, attn_dropout_prob: float = 0.2,
                 hidden_act: str = "gelu", layer_norm_eps: float = 1e-12, initializer_range: float = 0.02,
                 mask_ratio: float = 0.2, ft_ratio: float = 0.5, loss_type: str = "CE",
                 recbole_masking: bool = False) -> None:
        super().__init__(n_items + 1, hidden_size, loss_type)  # one more id: [MASK]
        self.n_items = n_items  # scored ids; the [MASK] id n_items is not one
        self.mask_token = n_items
        self.max_history = max_history
        self.mask_ratio = mask_ratio
        self.ft_ratio = ft_ratio
        self.scored_masks = int(mask_ratio * max_history)  # RecBole's mask_item_length
        self.recbole_masking = recbole_masking
        self.position_embedding = nn.Embedding(max_history, hidden_size)
        self.trm_encoder = TransformerEncoder(n_layers, n_heads, hidden_size, inner_size, hidden_dropout_prob,
                                              attn_dropout_prob, hidden_act, layer_norm_eps)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout_prob)
        self.output_ffn = nn.Linear(hidden_size, hidden_size)
        self.output_ln = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.output_bias = nn.Parameter(torch.zeros(n_items))
        self.apply(lambda module: init_transformer_weights(module, initializer_range))  # RecBole's order of draws

    @classmethod
    def build(cls, settings: BERT4RecSettings, catalogue: Catalogue) -> "BERT4Rec":
        return cls(catalogue.n_items, catalogue.max_history, settings.n_layers, settings.n_heads,
                   settings.hidden_size, settings.inner_size, settings.hidden_dropout_prob,
                   settings.attn_dropout_prob, settings.hidden_act, settings.layer_norm_eps,
                   settings.initializer_range, settings.mask_ratio, settings.ft_ratio, settings.loss_type,
                   settings.recbole_masking)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """[B, L] item ids ([MASK] included, 0 = padding) -> the output at every step [B, L, H]."""
        positions = torch.arange(items.shape[1], device=items.device)  # [L]
        hidden = self.dropout(self.LayerNorm(self.item_embedding(items) + self.position_embedding(positions)))
        hidden = self.trm_encoder(hidden, padding_mask(items))  # [B, L, H]
        return self.output_ln(gelu(self.output_ffn(hidden)))  # [B, L, H]

    def _item_rows(self) -> torch.Tensor:
        """The [n_items, H] embedding rows that are scored: every item id, not [MASK]."""
        return self.item_embedding.weight[:self.n_items]

    def _logits(self, output: torch.Tensor) -> torch.Tensor:
        """[..., H] outputs -> [..., n_items] scores of every item id (not [MASK])."""
        return output @ self._item_rows().t() + self.output_bias

    def with_mask_appended(self, history: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """[B, L] right-padded histories -> ([B, L'] the input that ranks the next item, [B] the
        position of its [MASK]): [MASK] after each history, keeping the last `max_history` ids
        (RecBole 1.2.1 with `recbole_masking`: every row shifted left by one)."""
        rows = torch.arange(len(history), device=history.device)
        items = torch.cat([history, history.new_zeros(len(history), 1)], dim=1)  # [B, L + 1]
        items[rows, lengths] = self.mask_token
        if self.recbole_masking:
            return items[:, 1:], lengths - 1
        if items.shape[1] <= self.max_history:
            return items, lengths
        shift = (lengths + 1 - self.max_history).clamp(min=0)  # [B]; 1 for a full history, else 0
        index = torch.arange(self.max_history, device=history.device) + shift.unsqueeze(1)  # [B, max_history]
        return items.gather(1, index), lengths - shift

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """Scores of every item id after each history [B, n_items]: the output at an appended [MASK]."""
        items, position = self.with_mask_appended(batch.history, batch.lengths)
        output = self.forward(items)[torch.arange(len(items), device=items.device), position]  # [B, H]
        return self._logits(output)

    def draw_masks(self, history: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """RecBole's masking of a training batch, drawn from torch's global generator: ([B, L] the
        masked histories, [B, L] the masked item at each scored position, 0 elsewhere). With
        probability `ft_ratio` the batch masks each history's last item only; otherwise each item
        with probability `mask_ratio`, of which the last `scored_masks` of a row are scored."""
        rows = torch.arange(len(history), device=history.device)
        if torch.rand(()) < self.ft_ratio:
            chosen = torch.zeros_like(history, dtype=torch.bool)
            chosen[rows, lengths - 1] = True
        else:
            chosen = (torch.rand(history.shape, device=history.device) < self.mask_ratio) & (history != 0)
        masked = history.masked_fill(chosen, self.mask_token)  # [B, L]
        later = chosen.flip(1).cumsum(1).flip(1)  # [B, L] chosen positions at or after each one
        scored = chosen & (later <= self.scored_masks)
        if self.recbole_masking:
            scored[:, 0] = False  # RecBole reads a masked position 0 as its padding
        return masked, torch.where(scored, history, 0)

    def cloze_loss(self, masked: torch.Tensor, targets: torch.Tensor,
                   negatives: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The mean loss over the scored positions: `masked` [B, L] inputs, `targets` [B, L] the
        item to predict at each position (0 = none), for BPR `negatives` [B, L] one per position."""
        output = self.forward(masked)[targets != 0]  # [P, H]
        positives = targets[targets != 0]  # [P]
        if len(positives) == 0:
            return output.sum() * 0.0  # nothing masked (RecBole would divide by zero)
        if self.loss_type == "CE":
            return full_cross_entropy(output, self._item_rows(), self.output_bias, positives)
        negatives = negatives[targets != 0]
        positive = (output * self.item_embedding(positives)).sum(-1) + self.output_bias[positives]  # [P]
        negative = (output * self.item_embedding(negatives)).sum(-1) + self.output_bias[negatives]  # [P]
        return -torch.log(1e-14 + torch.sigmoid(positive - negative)).mean()

    def draw_negatives(self, history: torch.Tensor) -> torch.Tensor:
        """[B, L] one uniform item id per position, not in that row's history (RecBole's `_neg_sample`)."""
        negatives = torch.randint(1, self.n_items, history.shape, device=history.device)
        for _ in range(100):  # a history holding (almost) every item keeps a clash rather than loop forever
            clash = (negatives.unsqueeze(-1) == history.unsqueeze(1)).any(-1)  # [B, L]
            if not clash.any():
                break
            negatives[clash] = torch.randint(1, self.n_items, (int(clash.sum()),), device=history.device)
        return negatives

    def loss(self, batch: Batch) -> torch.Tensor:
        """The cloze loss of the batch's histories under freshly drawn masks (its targets are not used)."""
        return self._masked_loss(batch.history, batch.lengths)

    def _masked_loss(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The mean cloze loss of [B, L] right-padded rows of `lengths` items under freshly drawn masks."""
        masked, targets = self.draw_masks(items, lengths)
        negatives = self.draw_negatives(items) if self.loss_type == "BPR" else None
        return self.cloze_loss(masked, targets, negatives)

    @staticmethod
    def windows(chunk: Chunk) -> Tuple[torch.Tensor, torch.Tensor]:
        """train_mode 'sequence': ([b, l + 1] each row's items with its last target appended, [b]
        their lengths)."""
        lengths = (chunk.inputs != 0).sum(dim=1)  # [b]
        rows = torch.arange(len(lengths), device=lengths.device)
        items = torch.cat([chunk.inputs, chunk.inputs.new_zeros(len(lengths), 1)], dim=1)  # [b, l + 1]
        items[rows, lengths] = chunk.targets[rows, lengths - 1]
        return items, lengths + 1

    def sequence_loss(self, chunk: Chunk, state: Optional[torch.Tensor]) -> Tuple[torch.Tensor, None]:
        """train_mode 'sequence': the cloze loss of each row's window under freshly drawn masks,
        times the chunk's targets, so that the trainer's mean over the batch's targets is the mean
        cloze loss. A row is one chunk (`check_windows_fit_positions`), so no state is carried."""
        if state is not None:
            raise ValueError("BERT4Rec masks a window as a whole: a row must be one chunk")
        items, lengths = self.windows(chunk)
        return self._masked_loss(items, lengths) * int((chunk.targets != 0).sum()), None


MODEL = ModelSpec("BERT4Rec", BERT4RecSettings, BERT4Rec,
                  "Sun et al., BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations "
                  "from Transformer (CIKM 2019)", train_modes=("augment", "sequence"),
                  defaults={"segment_length": 49, "warmup_length": 0})  # windows of 50 = MAX_ITEM_LIST_LENGTH
