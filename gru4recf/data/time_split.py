"""The session protocol's global time split (the GRU4Rec papers, session-rec): whole sequences
by the time they end, so that nothing of the test period is seen in training.

Sequences that end in the test window are test, those ending in the validation window before it
are valid, the rest training. Events of valid/test sequences whose items never occur in training
are dropped (no model can score an item it has never seen), then valid/test sequences left with
fewer than 2 events (no next click to predict). The catalogue becomes the training items: evaluation
ranks those, as the official GRU4Rec evaluation does.
"""
import logging
from dataclasses import replace
from datetime import datetime, timezone
from typing import Mapping, Tuple

import numpy as np

from ..errors import DatasetError
from .dataset import SequenceDataset
from .split import Examples, _expand

logger = logging.getLogger("gru4recf")

DAY = 86400.0  # seconds: `*_days` read TIME_FIELD as unix seconds
TRAIN, VALID, TEST = 0, 1, 2


def window_starts(times: np.ndarray, spec: Mapping[str, float]) -> Tuple[float, float]:
    """(first time of the validation window, first time of the test window) of a validated 'TS'
    spec: the last `*_days` before the latest timestamp, fixed `*_after` times, or the last
    `*_fraction` of the time span."""
    if "test_after" in spec:
        return float(spec["valid_after"]), float(spec["test_after"])
    latest = float(times.max())
    if "test_days" in spec:
        test = latest - spec["test_days"] * DAY
        return test - spec["valid_days"] * DAY, test
    span = latest - float(times.min())
    test = latest - spec["test_fraction"] * span
    return test - spec["valid_fraction"] * span, test


def _parts(dataset: SequenceDataset, valid_start: float, test_start: float) -> np.ndarray:
    """[n_sequences] TRAIN/VALID/TEST by each sequence's last timestamp (empty sequences: TRAIN)."""
    offsets = dataset.user_offsets
    lengths = np.diff(offsets)
    ends = np.where(lengths > 0, dataset.times[np.maximum(offsets[1:] - 1, 0)], -np.inf)
    return np.where(ends >= test_start, TEST, np.where(ends >= valid_start, VALID, TRAIN))


def time_split(dataset: SequenceDataset, spec: Mapping[str, float]) -> Tuple[SequenceDataset, dict]:
    """The dataset cut to what the split keeps (catalogue: the training items) and its train/valid/
    test examples: every target position of every sequence of each part."""
    if dataset.times is None:
        raise DatasetError(f"dataset '{dataset.name}' has no timestamps, which the time split (TS) needs")
    valid_start, test_start = window_starts(dataset.times, spec)
    part = _parts(dataset, valid_start, test_start)
    lengths = np.diff(dataset.user_offsets)
    event_part = np.repeat(part, lengths)
    in_train = np.zeros(dataset.n_items, dtype=bool)
    in_train[dataset.items[event_part == TRAIN]] = True
    in_train[0] = False
    keep = (event_part == TRAIN) | in_train[dataset.items]
    unseen = int((~keep).sum())
    sequence = np.repeat(np.arange(len(lengths)), lengths)
    kept = np.bincount(sequence[keep], minlength=len(lengths))
    too_short = (part != TRAIN) & (kept < 2) & (lengths > 0)
    keep &= ~too_short[sequence]
    new_lengths = np.bincount(sequence[keep], minlength=len(lengths))
    split = _cut(dataset, keep, new_lengths, in_train)
    _log(dataset, part, new_lengths, unseen, int(too_short.sum()), valid_start, test_start)
    return split, _examples(split.user_offsets, part)


def _cut(dataset: SequenceDataset, keep: np.ndarray, lengths: np.ndarray, in_train: np.ndarray) -> SequenceDataset:
    """The kept events, items renumbered 1..K over the training items (feature rows with them)."""
    catalogue = np.concatenate([[0], np.flatnonzero(in_train)])  # old ids of the new ids 0..K
    new_of_old = np.zeros(dataset.n_items, dtype=np.int64)
    new_of_old[catalogue] = np.arange(len(catalogue))
    features = [feature.take(catalogue) for feature in dataset.item_features]
    return replace(dataset, item_tokens=dataset.item_tokens[catalogue],
                   user_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                   items=new_of_old[dataset.items[keep]], item_features=features, times=dataset.times[keep])


def _examples(offsets: np.ndarray, part: np.ndarray) -> dict:
    """Every target position (1..n-1) of the sequences of each part."""
    starts, lengths = offsets[:-1], np.diff(offsets)
    examples = {}
    for name, code in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        chosen = (part == code) & (lengths >= 2)
        examples[name] = _expand(starts[chosen], starts[chosen] + 1, lengths[chosen] - 1)
    return examples


def _when(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{timestamp:g}"


def _log(dataset: SequenceDataset, part: np.ndarray, lengths: np.ndarray, unseen: int, short: int,
         valid_start: float, test_start: float) -> None:
    kind = "sessions" if dataset.sessions else "users"
    counts = []
    for name, code in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        chosen = (part == code) & (lengths > 0)
        counts.append(f"{name} {int(chosen.sum()):,} {kind} / {int(lengths[chosen].sum()):,} events")
    logger.info(f"time split: valid = {kind} ending from {_when(valid_start)}, test = from {_when(test_start)}; "
                + ", ".join(counts) + f"; dropped from valid/test: {unseen:,} events of items not in training, "
                f"then {short:,} {kind} left with fewer than 2 events")
