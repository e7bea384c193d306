"""Using a trained model: `load_model(path)` gives a recommender that needs no dataset.

The checkpoint holds the weights, the configuration, the item catalogue (token of every item id)
and the item feature tables, which is all a model needs to score sessions given as raw item
tokens. Scores are the trainer's full-ranking scores: the same history (truncated to the last
MAX_ITEM_LIST_LENGTH items, as in training) gets the same score for every item.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Union

import torch
from torch import nn

from .data.batching import Batch
from .data.settings import DataSettings
from .errors import CheckpointError, ConfigError, RecommendError
from .models.registry import model_spec
from .models.spec import Catalogue
from .training.checkpoint import read_checkpoint


@dataclass
class Recommendation:
    """Top-k items of one session, best first: `items` are raw item tokens, `scores` the model's
    scores for them; `unknown` lists the session's tokens that are not in the catalogue (they
    were skipped). A session with no known item gets no items."""

    items: List[str]
    scores: List[float]
    unknown: List[str] = field(default_factory=list)


class Recommender:
    """A trained model with its item catalogue: sessions of raw item tokens in, top-k tokens out."""

    def __init__(self, model: nn.Module, item_tokens: Sequence[str], max_length: int,
                 meta: Mapping, device: torch.device = torch.device("cpu")) -> None:
        self.model = model.to(device).eval()
        self.item_tokens = list(item_tokens)
        self.item_ids: Dict[str, int] = {token: index for index, token in enumerate(self.item_tokens) if index > 0}
        self.max_length = max_length
        self.meta = dict(meta)
        self.device = device

    @property
    def n_items(self) -> int:
        """Items in the catalogue (padding excluded)."""
        return len(self.item_tokens) - 1

    def recommend(self, item_tokens: Sequence[Union[str, int]], k: int = 10,
                  exclude_seen: bool = False) -> Recommendation:
        """The top `k` items to follow one session (its items oldest first, as raw tokens);
        `exclude_seen` leaves out the session's own items."""
        if not _is_session(item_tokens):
            raise RecommendError(f"item_tokens must be a list of item tokens, got {type(item_tokens).__name__} "
                                 f"{str(item_tokens)[:50]!r}")
        return self.recommend_batch([item_tokens], k, exclude_seen)[0]

    def recommend_batch(self, sessions: Sequence[Sequence[Union[str, int]]], k: int = 10,
                        exclude_seen: bool = False, batch_size: int = 1024) -> List[Recommendation]:
        """`recommend` for many sessions at once, scored `batch_size` sessions at a time."""
        if isinstance(sessions, (str, bytes)) or not all(_is_session(s) for s in sessions):
            raise RecommendError("sessions must be a list of sessions, each a list of item tokens "
                                 "(for one session use recommend)")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise RecommendError(f"k must be a positive integer, got {k!r}")
        k = min(k, self.n_items)
        parsed = [self._ids(session) for session in sessions]
        results: List[Recommendation] = [Recommendation([], [], unknown) for _, unknown in parsed]
        known = [row for row, (ids, _) in enumerate(parsed) if ids]
        for first in range(0, len(known), batch_size):
            rows = known[first:first + batch_size]
            scores = self.scores([parsed[row][0] for row in rows])  # [B, n_items + 1]
            if exclude_seen:
                for index, row in enumerate(rows):
                    scores[index, parsed[row][0]] = -torch.inf
            top_scores, top_ids = scores.sort(dim=1, descending=True, stable=True)  # ties: lower id first
            for index, row in enumerate(rows):
                keep = torch.isfinite(top_scores[index, :k])
                results[row].items = [self.item_tokens[i] for i in top_ids[index, :k][keep].tolist()]
                results[row].scores = top_scores[index, :k][keep].tolist()
        return results

    @torch.no_grad()
    def scores(self, histories: Sequence[Sequence[int]]) -> torch.Tensor:
        """Scores of every item id after each history of item ids (oldest first, each non-empty),
        exactly as the trainer's full ranking computes them: [B, n_items + 1], padding id 0 = -inf."""
        histories = [list(h)[-self.max_length:] for h in histories]
        lengths = torch.tensor([len(h) for h in histories], dtype=torch.long)
        padded = torch.zeros(len(histories), int(lengths.max()), dtype=torch.long)  # [B, L]
        for row, history in enumerate(histories):
            padded[row, :len(history)] = torch.tensor(history, dtype=torch.long)
        batch = Batch(padded, lengths, torch.zeros(len(histories), dtype=torch.long)).to(self.device)
        scores = self.model.full_scores(batch).float().cpu()
        scores[:, 0] = -torch.inf
        return scores

    def _ids(self, session: Sequence[Union[str, int]]) -> tuple:
        ids, unknown = [], []
        for token in session:
            index = self.item_ids.get(str(token))
            if index is None:
                unknown.append(str(token))
            else:
                ids.append(index)
        return ids, unknown


def _is_session(session) -> bool:
    return not isinstance(session, (str, bytes)) and hasattr(session, "__iter__")


def load_model(path: Union[str, Path], device: Union[str, torch.device] = "cpu") -> Recommender:
    """Rebuilds the model saved at `path` (a best or 'last' checkpoint of a training run) from the
    checkpoint alone; errors are CheckpointError naming the file."""
    checkpoint = read_checkpoint(path)
    item_tokens = checkpoint.item_tokens()
    stored = checkpoint.meta.get("config", {})
    writer = checkpoint.meta.get("library_version", "an unknown version")
    try:
        spec = model_spec(checkpoint.model)
    except ConfigError:
        raise CheckpointError(f"checkpoint {path} holds model '{checkpoint.model}' (written by gru4recf {writer}), "
                              "which this installation does not have: install the package that provides it") from None
    if spec.needs_users:
        raise CheckpointError(f"checkpoint {path} holds model '{checkpoint.model}', which scores users, not "
                              "sessions: recommend takes sessions of items")
    try:
        settings = spec.parse(stored)
        max_history = DataSettings.parse(stored).max_history
        with torch.random.fork_rng(devices=[]):  # building initialises weights: keep the caller's RNG as it was
            model = spec.build(settings, Catalogue(len(item_tokens), checkpoint.feature_fields(),
                                                   max_history=max_history))
    except ConfigError as error:
        raise CheckpointError(f"checkpoint {path} (written by gru4recf {writer}) cannot be used: {error}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint {path} is damaged: its {checkpoint.model} settings do not build "
                              f"a model ({type(error).__name__}: {error})") from None
    try:
        model.load_state_dict(checkpoint.state_dict)
    except RuntimeError as error:
        detail = " ".join(str(error).split())
        raise CheckpointError(f"checkpoint {path} does not hold {checkpoint.model} weights for "
                              f"{len(item_tokens) - 1} items: {detail[:300]}") from None
    return Recommender(model, item_tokens, max_history, checkpoint.meta, torch.device(device))
