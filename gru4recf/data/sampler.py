"""Negative item sampling for pairwise losses (BPR)."""
from typing import Optional

import numpy as np

from ..errors import DatasetError


class NegativeSampler:
    """Draws negative items uniformly or in proportion to popularity**alpha, never the positive.

    Item 0 (padding) is never drawn. Popularity counts are the training targets' item counts,
    as RecBole counts the training split.
    """

    def __init__(self, n_items: int, distribution: str = "uniform",
                 item_counts: Optional[np.ndarray] = None, alpha: float = 1.0) -> None:
        if n_items < 3:
            raise DatasetError("negative sampling needs at least two items besides the positive")
        self.n_items = n_items
        self.probabilities = None
        if distribution == "popularity":
            counts = np.asarray(item_counts, dtype=np.float64)
            weights = np.where(counts > 0, counts, 0.0) ** alpha * (counts > 0)  # 0**0 must stay 0
            weights[0] = 0.0
            if (weights > 0).sum() < 2:
                raise DatasetError("popularity sampling needs at least two items with training interactions")
            self.probabilities = weights / weights.sum()

    def _draw(self, size: int, rng: np.random.Generator) -> np.ndarray:
        if self.probabilities is None:
            return rng.integers(1, self.n_items, size=size)
        return rng.choice(self.n_items, size=size, p=self.probabilities)

    def sample(self, positives: np.ndarray, num: int, rng: np.random.Generator) -> np.ndarray:
        """[B] positive ids -> [B, num] negatives, redrawing any that hit the positive."""
        expected = np.repeat(np.asarray(positives), num)
        negatives = self._draw(len(expected), rng)
        clash = np.flatnonzero(negatives == expected)
        while len(clash):
            negatives[clash] = self._draw(len(clash), rng)
            clash = clash[negatives[clash] == expected[clash]]
        return negatives.reshape(len(positives), num)


class CandidateSampler:
    """Shared negatives for sampled softmax: `num_samples` items per batch, drawn with replacement
    in proportion to training popularity**alpha, with the log-Q correction log(S * q(item)).

    Scoring a few thousand popular candidates instead of the whole catalogue keeps CE affordable
    for catalogues of hundreds of thousands of items; the correction keeps the estimate unbiased
    for the full softmax in expectation (Bengio & Senecal 2008; Jean et al. 2015). `log_q` [n_items]
    corrects a sampled column, `target_log_q` [n_items] a target (the same here; see
    `for_batch_losses`).
    """

    def __init__(self, item_counts: np.ndarray, num_samples: int, alpha: float = 0.75) -> None:
        counts = np.asarray(item_counts, dtype=np.float64)
        weights = np.where(counts > 0, counts, 0.0) ** alpha * (counts > 0)
        weights[0] = 0.0
        if weights.sum() <= 0:
            raise DatasetError("sampled softmax needs items with training interactions")
        self.probabilities = weights / weights.sum()
        self.num_samples = num_samples
        with np.errstate(divide="ignore"):
            self.log_q = np.log(num_samples * self.probabilities).astype(np.float32)
        self.log_q[~np.isfinite(self.log_q)] = 0.0  # never-sampled items: no correction
        self.target_log_q = self.log_q

    @classmethod
    def for_batch_losses(cls, item_counts: np.ndarray, n_sample: int, sample_alpha: float) -> "CandidateSampler":
        """The shared negatives of the batch losses (models/losses.py): `n_sample` items a batch in
        proportion to popularity**sample_alpha, beside the batch's own targets. Their log-Q rule is
        the GRU4Rec authors': a column's correction is the log of its unnormalised sampling weight,
        count**sample_alpha for a shared sample and count for a target (targets come as often as
        their item occurs). `n_sample` may be 0 (the batch's targets only)."""
        sampler = cls(item_counts, max(n_sample, 1), sample_alpha)
        sampler.num_samples = n_sample
        counts = np.asarray(item_counts, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_counts = np.where(counts > 0, np.log(counts), 0.0).astype(np.float32)  # unseen items: 0
        sampler.log_q, sampler.target_log_q = (sample_alpha * log_counts).astype(np.float32), log_counts
        return sampler

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """[S] candidate item ids for one batch."""
        return rng.choice(len(self.probabilities), size=self.num_samples, p=self.probabilities)
