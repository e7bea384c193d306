"""Full-ranking evaluation: every item is scored for every example, in batches.

In a distributed run each process scores its shard of the examples and the processes add their
counts of target ranks, so every process gets exactly the metrics of one process."""
from collections import OrderedDict
from typing import Iterable, Sequence

import torch
from torch import nn
from tqdm import tqdm

from ..data.batching import Batch
from ..distributed import SINGLE_PROCESS, DistributedContext
from .settings import EvaluationSettings
from .metrics import metrics_from_counts, rank_counts, target_ranks


class Evaluator:
    """Ranks all items (padding id masked; history items not masked, as RecBole's sequential
    evaluation), ties placed by `ties` (see `metrics`), and averages top-k metrics over examples.

    A batch is scored in slices of at most `max_scores` scores (128 MiB of float32 by default), so
    `eval_batch_size` users against a catalogue of 200k items do not need gigabytes at once.
    """

    @classmethod
    def from_settings(cls, settings: EvaluationSettings, device: torch.device = torch.device("cpu"),
                      show_progress: bool = False, distributed: DistributedContext = SINGLE_PROCESS) -> "Evaluator":
        """The evaluator of a run's evaluation keys."""
        return cls(settings.metrics, settings.topk, settings.metric_decimal_place, device, show_progress,
                   distributed=distributed, ties=settings.rank_ties)

    def __init__(self, metrics: Sequence[str], topk: Sequence[int], decimal_place: int = 4,
                 device: torch.device = torch.device("cpu"), show_progress: bool = False,
                 max_scores: int = 1 << 25, distributed: DistributedContext = SINGLE_PROCESS,
                 ties: str = "conservative") -> None:
        self.metrics = list(metrics)
        self.topk = list(topk)
        self.decimal_place = decimal_place
        self.device = device
        self.show_progress = show_progress
        self.max_scores = max_scores
        self.distributed = distributed
        self.ties = ties

    @torch.no_grad()
    def ranks(self, model: nn.Module, batches: Iterable[Batch]) -> torch.Tensor:
        """1-based rank of each example's target if within the top max(topk) (0 = beyond); placeholder
        batches (weight 0, a process without rows of a batch) are skipped."""
        was_training = model.training
        model.eval()
        ranks = []
        rows = max(1, self.max_scores // model.n_items)  # cap the [rows, n_items] score matrix
        # a bar only for an evaluation longer than 2 s, so that the run's own bar stays the one on screen
        for batch in tqdm(batches, desc="Evaluate", leave=False, disable=not self.show_progress, delay=2):
            if batch.weight == 0:
                continue
            batch = batch.to(self.device)
            for first in range(0, len(batch), rows):
                part = batch.rows(slice(first, first + rows))
                scores = model.full_scores(part)  # [rows, n_items]
                scores[:, 0] = -torch.inf
                ranks.append(target_ranks(scores, part.targets, max(self.topk), self.ties).cpu())
                del scores  # free this slice's scores before the next one is computed
        model.train(was_training)
        return torch.cat(ranks) if ranks else torch.zeros(0)

    def evaluate(self, model: nn.Module, batches: Iterable[Batch]) -> "OrderedDict[str, float]":
        """The metrics over all examples of `batches` (of every process's shard in a distributed run)."""
        counts = self.distributed.sum(rank_counts(self.ranks(model, batches), max(self.topk)))
        return metrics_from_counts(counts, self.metrics, self.topk, self.decimal_place)
