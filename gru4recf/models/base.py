"""What every sequential model shares: the item embedding, the losses and full-ranking scores."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batching import Candidates

Hidden = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


class SequentialRecommender(nn.Module):
    """A model that encodes a history of item ids into a vector scored against item embeddings.

    Subclasses implement `encode`; `config_keys` lists the hyper-parameters the registry passes
    to the constructor, and `uses_features` whether it needs the item feature tables.
    """

    config_keys: tuple = ()
    uses_features: bool = False
    subnets: tuple = ()

    def __init__(self, n_items: int, embedding_size: int, loss_type: str) -> None:
        super().__init__()
        self.n_items = n_items
        self.loss_type = loss_type
        self.item_embedding = nn.Embedding(n_items, embedding_size, padding_idx=0)

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, L] right-padded item ids and [B] lengths -> [B, E] representation after the last item."""
        raise NotImplementedError

    def encode_steps(self, inputs: torch.Tensor, hidden: Optional[Hidden] = None) -> Tuple[torch.Tensor, Hidden]:
        """[B, L] item ids (right-padded), optional state from the previous chunk -> the
        representation after every step [B, L, E] and the state after the last step."""
        raise NotImplementedError

    def parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """Parameters by the part of the model they belong to; training strategies train or
        freeze whole groups. A model without subnets is one group."""
        return {"all": list(self.parameters())}

    @staticmethod
    def carry(hidden: Hidden, rows: int) -> Hidden:
        """The state of the first `rows` sequences, detached so gradients stop at the chunk edge."""
        if isinstance(hidden, tuple):
            return tuple(h[:, :rows].detach() for h in hidden)
        return hidden[:, :rows].detach()

    def step_loss(self, outputs: torch.Tensor, targets: torch.Tensor, negatives: Optional[torch.Tensor] = None,
                  candidates: Optional[Candidates] = None) -> torch.Tensor:
        """Summed loss over every step with a target (`targets` != 0): [B, L, E], [B, L], [B, L, N]."""
        mask = targets != 0
        if candidates is not None:
            candidates = Candidates(candidates.items, candidates.log_q, candidates.target_log_q[mask])
        return self._loss(outputs[mask], targets[mask], None if negatives is None else negatives[mask],
                          candidates, "sum")

    def loss(self, history: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
             negatives: Optional[torch.Tensor] = None, candidates: Optional[Candidates] = None) -> torch.Tensor:
        """CE over all items (or over shared sampled `candidates`), or BPR against `negatives`
        [B, N] (mean over all pairs)."""
        return self._loss(self.encode(history, lengths), targets, negatives, candidates, "mean")

    def _sampled_logits(self, output: torch.Tensor, targets: torch.Tensor, candidates: Candidates) -> torch.Tensor:
        """[P, 1 + S] log-Q corrected logits: the target first, then the shared candidates (a
        candidate equal to the target is masked out)."""
        positive = (output * self.item_embedding(targets)).sum(-1, keepdim=True) - candidates.target_log_q.unsqueeze(-1)
        sampled = output @ self.item_embedding(candidates.items).t() - candidates.log_q  # [P, S]
        sampled = sampled.masked_fill(candidates.items.unsqueeze(0) == targets.unsqueeze(-1), float("-inf"))
        return torch.cat([positive, sampled], dim=-1)

    def _loss(self, output: torch.Tensor, targets: torch.Tensor, negatives: Optional[torch.Tensor],
              candidates: Optional[Candidates], reduction: str) -> torch.Tensor:
        """[B, E] representations against [B] targets (and [B, N] negatives for BPR)."""
        if self.loss_type == "CE" and candidates is not None:
            logits = self._sampled_logits(output, targets, candidates)
            return F.cross_entropy(logits, torch.zeros_like(targets), reduction=reduction)
        if self.loss_type == "CE":
            return F.cross_entropy(output @ self.item_embedding.weight.t(), targets, reduction=reduction)
        positive = (output * self.item_embedding(targets)).sum(-1, keepdim=True)  # [B, 1]
        negative = torch.einsum("be,bne->bn", output, self.item_embedding(negatives))  # [B, N]
        pairs = -torch.log(torch.sigmoid(positive - negative) + 1e-10)  # [B, N]
        return pairs.mean() if reduction == "mean" else pairs.mean(dim=1).sum()

    def full_scores(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scores of every item id (padding included; callers mask it): [B, n_items]."""
        return self.encode(history, lengths) @ self.item_embedding.weight.t()
