"""Train/valid/test splits of every user's sequence into next-item examples.

An example is a target position in the time-ordered interaction array; its history is the
user's items before it (the last MAX_ITEM_LIST_LENGTH of them). This is RecBole's sequential
augmentation, kept as two integer arrays instead of one padded row per interaction.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Examples:
    """Next-item examples: `targets[i]` is a position in the interaction array, `starts[i]` the
    position where that user's sequence begins (histories never cross it)."""

    targets: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)


def _expand(starts: np.ndarray, first: np.ndarray, counts: np.ndarray) -> Examples:
    """Examples at positions first[u], first[u]+1, ... (counts[u] of them) for every user u."""
    total = int(counts.sum())
    block_start = np.repeat(np.cumsum(counts) - counts, counts)
    targets = np.repeat(first, counts) + (np.arange(total) - block_start)
    return Examples(targets.astype(np.int64), np.repeat(starts, counts).astype(np.int64))


def leave_one_out(user_offsets: np.ndarray) -> dict:
    """RecBole's {'LS': 'valid_and_test'}: per user, the last target is test, the one before valid.

    A user with n interactions has n-1 examples (targets at positions 1..n-1). With 3 or more,
    one goes to test and one to valid; with 2, one to test; with 1, it stays in training.
    """
    starts, n = user_offsets[:-1], np.diff(user_offsets)
    m = np.maximum(n - 1, 0)
    held_out = np.clip(m - 1, 0, 2)
    valid_users, test_users = held_out == 2, held_out >= 1
    return {
        "train": _expand(starts, starts + 1, m - held_out),
        "valid": _expand(starts[valid_users], (starts + n - 2)[valid_users], np.ones(valid_users.sum(), np.int64)),
        "test": _expand(starts[test_users], (starts + n - 1)[test_users], np.ones(test_users.sum(), np.int64)),
    }


def ratio_split(user_offsets: np.ndarray, ratios: list) -> dict:
    """RecBole's {'RS': [train, valid, test]} grouped by user, with its rounding rules.

    Each user's examples are cut in time order; a split whose share would round to zero but is
    positive takes one example from training while training keeps more than one.
    """
    starts, n = user_offsets[:-1], np.diff(user_offsets)
    m = np.maximum(n - 1, 0).astype(np.int64)
    r = np.asarray(ratios, dtype=np.float64) / float(sum(ratios))
    cnt = [None, np.floor(r[1] * m).astype(np.int64), np.floor(r[2] * m).astype(np.int64)]
    cnt[0] = m - cnt[1] - cnt[2]
    active = np.ones(len(m), dtype=bool)
    for i in (2, 1):
        active &= cnt[0] > 1
        bump = active & (r[i] * m > 0) & (r[i] * m < 1)
        cnt[i] = cnt[i] + bump
        cnt[0] = cnt[0] - bump
    first = starts + 1
    return {
        "train": _expand(starts, first, cnt[0]),
        "valid": _expand(starts, first + cnt[0], cnt[1]),
        "test": _expand(starts, first + cnt[0] + cnt[1], cnt[2]),
    }


def last_positions(examples: Examples) -> Examples:
    """Only the last example of each sequence ("last click only"); examples of a sequence are
    contiguous and in time order, as every split makes them."""
    starts = examples.starts
    last = np.append(starts[1:] != starts[:-1], True) if len(starts) else np.zeros(0, dtype=bool)
    return Examples(examples.targets[last], starts[last])


def split_examples(user_offsets: np.ndarray, split: dict) -> dict:
    """Dispatches on the validated `eval_args['split']` value ('LS' or 'RS'; the time split 'TS'
    cuts the dataset itself: see `time_split`)."""
    if "RS" in split:
        return ratio_split(user_offsets, split["RS"])
    return leave_one_out(user_offsets)
