"""What the models share: the interface the trainer and the evaluator use, the item embedding and
losses of models trained by gradients, and the fit path of models that are not.

Every model answers `full_scores(batch)`: scores of every item id after each history of a `Batch`.
A model trained by gradients (SequentialRecommender) also answers `loss(batch)` (train_mode
'augment'), and, when its representation at each step depends only on the prefix,
`sequence_loss(chunk, state)` (train_mode 'sequence'). A fitted model (FittedRecommender) answers
`fit(dataset, train)` instead; its fitted arrays are buffers, so it is checkpointed like any model.
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..config import checks as c
from ..config.settings import setting
from ..data.batching import Batch, Candidates
from ..data.dataset import SequenceDataset
from ..data.sequence_batches import Chunk
from ..data.split import Examples
from .full_softmax import full_cross_entropy
from .losses import BATCH_LOSSES, LossParams, batch_loss

State = Union[torch.Tensor, Tuple[torch.Tensor, ...]]
LOSSES = ("CE", "BPR") + BATCH_LOSSES


def loss_type_setting(choices=LOSSES) -> str:
    """The `loss_type` field of a model trained by gradients (RecBole's key)."""
    return setting("CE", c.one_of(choices),
                   "CE: softmax over all items (or sampled_softmax); BPR: sampled negatives; BPR-max, TOP1, TOP1-max, "
                   "CE-batch: GRU4Rec's losses over the batch's other targets plus n_sample shared negatives.")


class SequentialRecommender(nn.Module):
    """A model trained by gradients that encodes a history of item ids into a vector scored against
    the item embeddings. Subclasses implement `encode` (and `encode_steps` for train_mode
    'sequence'); models with parallel subnets override `parameter_groups` and `silence`.

    `loss_params` are the batch losses' parameters (global keys, set by the composition root);
    `item_bias`, when a model has one, adds a learned score per item to every score."""

    def __init__(self, n_items: int, embedding_size: int, loss_type: str) -> None:
        super().__init__()
        self.n_items = n_items
        self.loss_type = loss_type
        self.loss_params = LossParams()
        self.item_embedding = nn.Embedding(n_items, embedding_size, padding_idx=0)
        self.item_bias: Optional[nn.Embedding] = None

    def encode(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, L] right-padded item ids and [B] lengths -> [B, E] representation after the last item."""
        raise NotImplementedError(f"{type(self).__name__} must implement encode")

    def encode_steps(self, inputs: torch.Tensor, state: Optional[State] = None) -> Tuple[torch.Tensor, State]:
        """[B, L] item ids (right-padded), optional state from the previous chunk -> the
        representation after every step [B, L, E] and the state after the last step."""
        raise NotImplementedError(f"{type(self).__name__} does not read sequences step by step")

    @staticmethod
    def carry(state: State, rows: int) -> State:
        """The state of the first `rows` sequences, detached so gradients stop at the chunk edge."""
        if isinstance(state, tuple):
            return tuple(s[:, :rows].detach() for s in state)
        return state[:, :rows].detach()

    def parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """Parameters by the part of the model they belong to; training strategies train or
        freeze whole groups. A model without subnets is one group."""
        return {"all": list(self.parameters())}

    def silence(self, subnet: str) -> None:
        """Makes `subnet` add nothing to the output until it is trained (residual training)."""
        raise TypeError(f"{type(self).__name__} has no subnets to silence")

    def loss(self, batch: Batch) -> torch.Tensor:
        """The mean loss of a batch of examples: CE over all items (or over the batch's shared sampled
        `candidates`), or BPR against its `negatives` [B, N] (mean over all pairs)."""
        return self._loss(self.encode(batch.history, batch.lengths), batch.targets, batch.negatives,
                          batch.candidates, "mean")

    def sequence_loss(self, chunk: Chunk, state: Optional[State]) -> Tuple[torch.Tensor, State]:
        """The summed loss over every step of `chunk` with a target, and the state after it."""
        outputs, state = self.encode_steps(chunk.inputs, state)  # [B, L, E]
        return self._steps_loss(outputs, chunk), state

    def _steps_loss(self, outputs: torch.Tensor, chunk: Chunk) -> torch.Tensor:
        """The summed loss of the step outputs [B, L, E] at every step of `chunk` with a target."""
        mask = chunk.targets != 0
        candidates = chunk.candidates
        if candidates is not None:
            candidates = Candidates(candidates.items, candidates.log_q, candidates.target_log_q[mask])
        negatives = None if chunk.negatives is None else chunk.negatives[mask]
        return self._loss(outputs[mask], chunk.targets[mask], negatives, candidates, "sum")

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """Scores of every item id (padding included; callers mask it): [B, n_items]."""
        scores = self.encode(batch.history, batch.lengths) @ self.item_embedding.weight.t()
        return scores if self.item_bias is None else scores + self.item_bias.weight.t()

    def _batch_scores(self, output: torch.Tensor, targets: torch.Tensor,
                      candidates: Optional[Candidates]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The batch losses' [P, P + S] scores of every target's representation against all the
        batch's targets and then its S shared samples, and each column's log-Q correction [P + S]."""
        columns, log_q = targets, None
        if candidates is not None:
            columns = torch.cat([targets, candidates.items])  # [P + S]
            log_q = torch.cat([candidates.target_log_q, candidates.log_q])
        scores = output @ self.item_embedding(columns).t()  # [P, P + S]
        if self.item_bias is not None:
            scores = scores + self.item_bias(columns).t()
        return scores, log_q

    def _sampled_logits(self, output: torch.Tensor, targets: torch.Tensor, candidates: Candidates) -> torch.Tensor:
        """[P, 1 + S] log-Q corrected logits: the target first, then the shared candidates (a
        candidate equal to the target is masked out)."""
        positive = (output * self.item_embedding(targets)).sum(-1, keepdim=True) - candidates.target_log_q.unsqueeze(-1)
        sampled = output @ self.item_embedding(candidates.items).t() - candidates.log_q  # [P, S]
        if self.item_bias is not None:
            positive = positive + self.item_bias(targets)
            sampled = sampled + self.item_bias(candidates.items).t()
        sampled = sampled.masked_fill(candidates.items.unsqueeze(0) == targets.unsqueeze(-1), float("-inf"))
        return torch.cat([positive, sampled], dim=-1)

    def _loss(self, output: torch.Tensor, targets: torch.Tensor, negatives: Optional[torch.Tensor],
              candidates: Optional[Candidates], reduction: str) -> torch.Tensor:
        """[P, E] representations against [P] targets (and [P, N] negatives for BPR)."""
        if self.loss_type in BATCH_LOSSES:
            scores, log_q = self._batch_scores(output, targets, candidates)
            rows = batch_loss(self.loss_type, scores, self.loss_params, log_q)  # [P]
            return rows.mean() if reduction == "mean" else rows.sum()
        if self.loss_type == "CE" and candidates is not None:
            logits = self._sampled_logits(output, targets, candidates)
            return F.cross_entropy(logits, torch.zeros_like(targets), reduction=reduction)
        if self.loss_type == "CE":
            bias = None if self.item_bias is None else self.item_bias.weight  # [n_items, 1]
            return full_cross_entropy(output, self.item_embedding.weight, bias, targets, reduction)
        positive = (output * self.item_embedding(targets)).sum(-1, keepdim=True)  # [P, 1]
        negative = torch.einsum("be,bne->bn", output, self.item_embedding(negatives))  # [P, N]
        if self.item_bias is not None:
            positive, negative = positive + self.item_bias(targets), negative + self.item_bias(negatives)[..., 0]
        pairs = -torch.log(torch.sigmoid(positive - negative) + 1e-10)  # [P, N]
        return pairs.mean() if reduction == "mean" else pairs.mean(dim=1).sum()


class FittedRecommender(nn.Module):
    """A model fitted on the training examples rather than trained by gradients (popularity,
    nearest neighbours...). Its fitted arrays are registered buffers: they are its state_dict,
    so it is checkpointed, loaded and asked for recommendations exactly like a trained model.
    Buffers may change shape when fitted (a similarity matrix's non-zeros); `load_state_dict`
    takes the stored shapes."""

    def __init__(self, n_items: int) -> None:
        super().__init__()
        self.n_items = n_items

    def fit(self, dataset: SequenceDataset, train: Examples) -> None:
        """Fits the model's buffers on the training examples `train` of `dataset`."""
        raise NotImplementedError(f"{type(self).__name__} must implement fit")

    def full_scores(self, batch: Batch) -> torch.Tensor:
        """Scores of every item id after each history of `batch`: [B, n_items]."""
        raise NotImplementedError(f"{type(self).__name__} must implement full_scores")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Takes every buffer from `state_dict` whatever its shape (names must match)."""
        own = dict(self.named_buffers())
        missing, unexpected = sorted(set(own) - set(state_dict)), sorted(set(state_dict) - set(own))
        if missing or unexpected:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: missing keys {missing}, "
                               f"unexpected keys {unexpected}")
        for name, tensor in state_dict.items():
            module_name, _, buffer = name.rpartition(".")
            module = self.get_submodule(module_name) if module_name else self
            module.register_buffer(buffer, tensor.detach().clone().to(own[name].device))
        return nn.modules.module._IncompatibleKeys([], [])
