"""Interaction filters, as RecBole applies them: duplicates, field values, interaction counts.

All work on a pandas frame of interactions and are vectorised; each returns a new frame.
"""
from typing import Mapping, Optional

import numpy as np
import pandas as pd

from ..config.checks import parse_interval
from ..errors import DatasetError


def in_intervals(values: np.ndarray, text: str) -> np.ndarray:
    """Boolean mask of the values lying in any interval of RecBole's interval syntax."""
    keep = np.zeros(len(values), dtype=bool)
    for low, high, low_closed, high_closed in parse_interval(text):
        above = values >= low if low_closed else values > low
        below = values <= high if high_closed else values < high
        keep |= above & below
    return keep


def remove_duplicates(frame: pd.DataFrame, user: str, item: str, time: Optional[str], keep: str) -> pd.DataFrame:
    """Keeps one interaction per (user, item): the first or last in time (file order breaks ties).

    Like RecBole, the result stays in time order, which is the order ids are then assigned in.
    """
    if time is not None:
        frame = frame.iloc[np.argsort(frame[time].to_numpy(), kind="stable")]
    return frame.drop_duplicates(subset=[user, item], keep=keep)


def filter_by_values(frame: pd.DataFrame, intervals: Mapping[str, str], file_name: str) -> pd.DataFrame:
    """Keeps the interactions whose numeric fields lie in the given intervals (`val_interval`)."""
    keep = np.ones(len(frame), dtype=bool)
    for field, text in intervals.items():
        if field not in frame.columns:
            raise DatasetError(f"val_interval names field '{field}', which is not a loaded column of "
                               f"{file_name} (loaded: {', '.join(frame.columns)})")
        if not pd.api.types.is_float_dtype(frame[field]):
            raise DatasetError(f"val_interval field '{field}' of {file_name} is not a float field")
        keep &= in_intervals(frame[field].to_numpy(), text)
    return frame[keep]


def filter_by_counts(frame: pd.DataFrame, user: str, item: str,
                     user_interval: Optional[str], item_interval: Optional[str]) -> pd.DataFrame:
    """Drops users and items whose interaction counts fall outside the intervals, until stable.

    Removing a user changes item counts and vice versa, so (like RecBole) this repeats until no
    interaction is removed.
    """
    if user_interval is None and item_interval is None:
        return frame
    user_codes = pd.factorize(frame[user])[0]
    item_codes = pd.factorize(frame[item])[0]
    alive = np.ones(len(frame), dtype=bool)
    while True:
        keep = alive.copy()
        for codes, text in ((user_codes, user_interval), (item_codes, item_interval)):
            if text is not None:
                counts = np.bincount(codes[alive], minlength=codes.max(initial=-1) + 1)
                keep &= in_intervals(counts, text)[codes]
        if keep.sum() == alive.sum():
            return frame[alive]
        alive = keep
