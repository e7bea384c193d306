"""What every sequential model shares: the item embedding, the losses and full-ranking scores."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class SequentialRecommender(nn.Module):
    """A model that encodes a history of item ids into a vector scored against item embeddings.

    Subclasses implement `encode`; `config_keys` lists the hyper-parameters the registry passes
    to the constructor, and `uses_features` whether it needs the item feature tables.
    """

    config_keys: tuple = ()
    uses_features: bool = False

    def __init__(self, n_items: int, embedding_size: int, loss_type: str) -> None:
        super().__init__()
        self.n_items = n_items
        self.loss_type = loss_type
        self.item_embedding = nn.Embedding(n_items, embedding_size, padding_idx=0)

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, L] right-padded item ids and [B] lengths -> [B, E] representation after the last item."""
        raise NotImplementedError

    def loss(self, history: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
             negatives: Optional[torch.Tensor] = None) -> torch.Tensor:
        """CE over all items, or BPR against `negatives` [B, N] (mean over all pairs)."""
        output = self.encode(history, lengths)  # [B, E]
        if self.loss_type == "CE":
            return F.cross_entropy(output @ self.item_embedding.weight.t(), targets)
        positive = (output * self.item_embedding(targets)).sum(-1, keepdim=True)  # [B, 1]
        negative = torch.einsum("be,bne->bn", output, self.item_embedding(negatives))  # [B, N]
        return -torch.log(torch.sigmoid(positive - negative) + 1e-10).mean()

    def full_scores(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scores of every item id (padding included; callers mask it): [B, n_items]."""
        return self.encode(history, lengths) @ self.item_embedding.weight.t()
