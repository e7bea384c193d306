"""Layers shared by the models: last-step gathering, GRU initialisation, the item feature encoder."""
from typing import List, Sequence, Tuple

import torch
from torch import nn

from ..data.features import FeatureField


def gather_last(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Output at each sequence's last valid step: [B, L, H] and [B] lengths -> [B, H].

    Histories are right-padded, so padded steps come after the last valid one and never affect
    it. (Running the GRU on padded batches is several times faster on CPUs than on
    PackedSequence, whose per-step batch sizes defeat the fused kernels.)
    """
    index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])  # [B, 1, H]
    return outputs.gather(1, index).squeeze(1)


def init_gru(gru: nn.GRU) -> None:
    """RecBole's GRU4Rec initialisation: Xavier-uniform on the first layer's weights only."""
    nn.init.xavier_uniform_(gru.weight_hh_l0)
    nn.init.xavier_uniform_(gru.weight_ih_l0)


def xavier_linear(in_features: int, out_features: int) -> nn.Linear:
    """A dense layer initialised as RecBole's `xavier_normal_initialization`: Xavier-normal
    weights, zero bias."""
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_normal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def ragged_rows(offsets: torch.Tensor, rows: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Where rows `rows` of a ragged table lie: (positions [T'] of their values, end to end, in the
    table's values; start of each row's run among them [R]). `offsets` is [N + 1]."""
    starts = offsets[rows]  # [R]
    lengths = offsets[rows + 1] - starts  # [R]
    bag_starts = torch.cumsum(lengths, 0) - lengths  # [R]
    positions = torch.arange(int(lengths.sum()), device=offsets.device) + torch.repeat_interleave(
        starts - bag_starts, lengths)  # [T']
    return positions, bag_starts


class ItemFeatureEncoder(nn.Module):
    """Embeds the selected features of items: ids [N] -> [N, F * embedding_size].

    token features are looked up, token_seq features pooled over their tokens (sum, mean or
    max; an item with no tokens gets zeros) by an EmbeddingBag over the ragged table (each item's
    tokens and nothing else, so memory follows the number of tokens, not the longest cell), float
    features scale a learned vector, float_seq features (dense [d] vectors) pass through a learned
    projection Linear(d, embedding_size) without bias, so an item without a vector gets zeros.
    Each distinct item in a call is encoded once, then gathered.
    """

    def __init__(self, fields: Sequence[FeatureField], embedding_size: int, pooling_mode: str) -> None:
        super().__init__()
        self.names: List[str] = [f.name for f in fields]
        self.kinds: List[str] = [f.kind for f in fields]
        self.encoders = nn.ModuleList()
        for index, field in enumerate(fields):
            # not in the state dict: a checkpoint stores each feature table once, beside the weights
            self.register_buffer(f"table_{index}", torch.as_tensor(field.values), persistent=False)
            if field.offsets is not None:
                self.register_buffer(f"offsets_{index}", torch.as_tensor(field.offsets), persistent=False)
            if field.kind == "token":
                module = nn.Embedding(field.num_tokens, embedding_size)
                nn.init.xavier_normal_(module.weight)
            elif field.kind == "token_seq":
                module = nn.EmbeddingBag(field.num_tokens, embedding_size, mode=pooling_mode, padding_idx=0)
                nn.init.xavier_normal_(module.weight)
            elif field.kind == "float_seq":
                module = nn.Linear(field.values.shape[1], embedding_size, bias=False)  # [d] -> [E]
                nn.init.xavier_normal_(module.weight)
            else:
                module = nn.Linear(1, embedding_size, bias=False)
                nn.init.xavier_normal_(module.weight)
            self.encoders.append(module)
        self.output_size = embedding_size * len(fields)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Checkpoints of gru4recf 0.1 held the feature tables in the state dict as well: those
        copies are dropped (the tables come from the checkpoint's own feature tables)."""
        for index in range(len(self.encoders)):
            state_dict.pop(f"{prefix}table_{index}", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def encode_items(self, items: torch.Tensor) -> torch.Tensor:
        """[U] distinct item ids -> [U, F * E]."""
        parts = []
        for index, (kind, module) in enumerate(zip(self.kinds, self.encoders)):
            table = getattr(self, f"table_{index}")
            if kind == "token_seq":
                positions, bag_starts = ragged_rows(getattr(self, f"offsets_{index}"), items)  # [T'], [U]
                parts.append(module(table[positions], bag_starts))  # [U, E]
            elif kind == "float":
                parts.append(module(table[items].unsqueeze(-1)))  # [U, E]
            else:
                parts.append(module(table[items]))  # [U] or [U, d] -> [U, E]
        return torch.cat(parts, dim=-1)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        distinct, inverse = torch.unique(items, return_inverse=True)
        return self.encode_items(distinct)[inverse]  # [*items.shape, F * E]
