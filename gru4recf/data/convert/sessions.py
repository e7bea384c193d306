"""The preprocessing steps the GRU4Rec papers apply to session logs, each vectorised over all rows.

Two named protocols (`PROTOCOLS`), both from Balázs Hidasi's own code:
- 'hidasi2023' (default): the preprocessing of Hidasi & Czapp, "The effect of third party
  implementations on reproducibility" (RecSys 2023), as published with it
  (github.com/hidasib/gru4rec_third_party_comparison, docs/data_preproc and the
  `<dataset>_preproc.py` scripts): sessions cut at more than 1 hour (3600 s) of inactivity where the
  source has no session ids; a click repeating the session's previous item is dropped ((i, i, j) ->
  (i, j)); then sessions shorter than 2 and items with fewer than 5 events are removed, again and
  again until nothing changes.
- 'gru4rec2016': the original GRU4Rec preprocessing of RSC15 (Hidasi et al., ICLR 2016,
  examples/rsc15/preprocess.py of github.com/hidasib/GRU4Rec): sessions of length 1 removed, then
  items with fewer than 5 events, then sessions shorter than 2, once each; repeats are kept.

Where the source has a timestamp tie inside a session, rows keep their file order (the 2023
scripts sort ties by item id instead; only the order of same-instant clicks can differ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Protocol:
    """How a session log is cleaned before it is written (see the module docstring)."""

    name: str
    drop_repeats: bool
    until_stable: bool
    min_session_length: int = 2
    min_item_support: int = 5
    session_gap: float = 3600.0  # seconds of inactivity that end a session (sources without sessions)
    yoochoose_test_file: bool = True  # YOOCHOOSE: also read yoochoose-test.dat when it is there


PROTOCOLS: Dict[str, Protocol] = {
    "hidasi2023": Protocol("hidasi2023", drop_repeats=True, until_stable=True),
    "gru4rec2016": Protocol("gru4rec2016", drop_repeats=False, until_stable=False, yoochoose_test_file=False),
}


def cut_sessions(owner: np.ndarray, times: np.ndarray, gap: float) -> np.ndarray:
    """[n] int64 session number of each row: a new session starts at an owner's first event and after
    more than `gap` seconds without one. Rows are taken in (owner, time, row) order; the numbers
    count sessions in that order, from 0."""
    order = np.lexsort((np.arange(len(owner)), times, owner))
    owner, times = owner[order], times[order]
    new = np.ones(len(order), bool)
    new[1:] = (owner[1:] != owner[:-1]) | (np.diff(times) > gap)
    sessions = np.empty(len(order), np.int64)
    sessions[order] = np.cumsum(new) - 1
    return sessions


def clean(frame: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """The rows of `frame` (columns session, item, time and any others) that the protocol keeps,
    in output order: sessions by their first event's time (ties by session), events by time, ties
    in the frame's row order."""
    frame = frame.iloc[np.lexsort((np.arange(len(frame)), frame["time"].to_numpy(), _codes(frame["session"])))]
    session, item = _codes(frame["session"]), _codes(frame["item"])
    keep = np.ones(len(frame), bool)
    if protocol.drop_repeats:
        keep[1:] = (session[1:] != session[:-1]) | (item[1:] != item[:-1])
    keep = filter_support(session, item, keep, protocol)
    frame = frame[keep]
    session = _codes(frame["session"])
    times = frame["time"].to_numpy()
    start = np.full(session.max(initial=-1) + 1, np.inf)
    np.minimum.at(start, session, times)
    order = np.lexsort((np.arange(len(frame)), times, session, start[session]))
    return frame.iloc[order].reset_index(drop=True)


def filter_support(session: np.ndarray, item: np.ndarray, keep: np.ndarray, protocol: Protocol) -> np.ndarray:
    """`keep` narrowed by the protocol's length and support filters: sessions with fewer than
    min_session_length kept rows go, then items with fewer than min_item_support; repeated until
    stable, or (gru4rec2016) followed by one more session pass."""
    while True:
        before = int(keep.sum())
        keep = keep & (_counts(session, keep)[session] >= protocol.min_session_length)
        keep = keep & (_counts(item, keep)[item] >= protocol.min_item_support)
        if not protocol.until_stable:
            return keep & (_counts(session, keep)[session] >= protocol.min_session_length)
        if int(keep.sum()) == before:
            return keep


def _counts(codes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.bincount(codes[keep], minlength=int(codes.max(initial=-1)) + 1)


def _codes(values: pd.Series) -> np.ndarray:
    """Dense int64 codes in the sorted order of the values (so that ties break by value)."""
    return pd.factorize(values, sort=True)[0].astype(np.int64)


def renumber(session: pd.Series) -> np.ndarray:
    """1, 2, ... in the order the sessions first appear (for sources whose sessions we cut)."""
    return pd.factorize(session, sort=False)[0].astype(np.int64) + 1


def feature_rows(features: Optional[pd.DataFrame], items: pd.Series) -> Optional[pd.DataFrame]:
    """The rows of an item-feature frame (first column: the item) for items that remain, in item order."""
    if features is None:
        return None
    kept = features[features.iloc[:, 0].isin(pd.unique(items))]
    return kept.sort_values(kept.columns[0], kind="stable").reset_index(drop=True)
