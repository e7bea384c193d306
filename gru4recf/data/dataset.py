"""Loading a dataset: atomic files -> filtered, remapped, time-ordered sequences.

A sequence is a user's interactions, or a session's when SESSION_ID_FIELD is set. The result holds
one int64 array of item ids ordered by (sequence, time), their timestamps, and the offsets where
each sequence starts: memory grows linearly with interactions, with no padded matrices.
"""
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import DataFormatError, DatasetError
from .atomic_files import read_atomic, read_header
from .features import FeatureField, build_item_features
from .filtering import filter_by_counts, filter_by_values, in_intervals, remove_duplicates
from .settings import PAD, DataSettings
from .vectors import check_no_clash, resolve_vector_files, vector_feature

logger = logging.getLogger("gru4recf")


@dataclass
class SequenceDataset:
    """Time-ordered item sequences (one per user, or one per session) plus the item feature tables.

    Sequence u's items are `items[user_offsets[u]:user_offsets[u + 1]]`, their timestamps `times[...]`
    (None for data built without them); id 0 is padding for sequences, items and feature tokens
    (`user_tokens[0] == item_tokens[0] == '[PAD]'`). With `sessions`, sequence ids are session ids
    in order of the sessions' start times, and `user_tokens` holds session tokens.
    """

    name: str
    user_tokens: np.ndarray
    item_tokens: np.ndarray
    user_offsets: np.ndarray
    items: np.ndarray
    item_features: List[FeatureField]
    times: Optional[np.ndarray] = None
    sessions: bool = False

    @property
    def n_users(self) -> int:
        return len(self.user_tokens)

    @property
    def n_items(self) -> int:
        return len(self.item_tokens)

    @property
    def n_interactions(self) -> int:
        return len(self.items)

    def statistics(self) -> str:
        """The dataset in one line, as people write it: users and items without the padding id
        (RecBole counts it: 944 users for ml-100k's 943), averages over the users and items that
        have interactions (as RecBole), sparsity over the real users and items."""
        inters = self.n_interactions
        users, items = self.n_users - 1, self.n_items - 1
        active_users = max(int((np.diff(self.user_offsets) > 0).sum()), 1)
        active_items = max(len(np.unique(self.items)), 1)
        sparsity = 100 * (1 - inters / max(users * items, 1))
        kind = "session" if self.sessions else "user"
        return (f"{self.name}: {users:,} {kind}s, {items:,} items, {inters:,} interactions; "
                f"{inters / active_users:.2f} per {kind}, {inters / active_items:.2f} per item; "
                f"sparsity {sparsity:.2f}%")


def _columns(settings: DataSettings, source: str) -> Optional[list]:
    if settings.load_col is None:
        return None
    return list(settings.load_col.get(source, []))


def _read_table(folder: Path, settings: DataSettings, source: str, required: Sequence[str]):
    path = folder / f"{settings.name}.{source}"
    columns = _columns(settings, source)
    if columns == [] or not path.is_file():
        return None
    header = read_header(path, settings.field_separator)
    wanted = list(header) if columns is None else columns
    missing = [name for name in required if name not in wanted]
    if missing:
        raise DatasetError(f"{path} must provide column(s) {', '.join(missing)} "
                           f"(found {', '.join(header)}; check load_col and the *_FIELD settings)")
    return read_atomic(path, settings.field_separator, settings.seq_separator, wanted)


def _filter(frame: pd.DataFrame, settings: DataSettings, inter_name: str) -> tuple:
    """The filtered interactions, and the frame as it was before the count filter (whose users
    and items that vanished were dropped by it, also from the feature files)."""
    user, item, time = settings.sequence_field, settings.item_field, settings.time_field
    if settings.rm_dup_inter is not None:
        frame = remove_duplicates(frame, user, item, time, settings.rm_dup_inter)
    if settings.val_interval:
        frame = filter_by_values(frame, settings.val_interval, inter_name)
    before_counts = frame
    frame = filter_by_counts(frame, user, item, settings.user_inter_num_interval, settings.item_inter_num_interval)
    if frame.empty:
        raise DatasetError(f"{inter_name} has no interactions left after filtering "
                           "(check user_inter_num_interval, item_inter_num_interval, val_interval)")
    return frame, before_counts


def check_ids(table, fields: Sequence[str], unique: bool = False) -> None:
    """Id cells must be non-empty and must not be the padding token (id 0 is reserved for it); in a
    feature file (`unique`), an id may have one row only (which of two would be its features?).
    Errors name the file, the 1-based line and the field."""
    for field in fields:
        column = table.frame[field]
        bad = np.flatnonzero(((column == "") | (column == PAD)).to_numpy())
        if len(bad):
            line, value = int(table.line_numbers[bad[0]]), column.iloc[bad[0]]
            what = "is empty" if value == "" else f"is {PAD!r}, the token reserved for padding (id 0); rename it"
            raise DataFormatError(f"{table.path}, line {line}: field '{field}' {what}")
        if unique:
            repeated = np.flatnonzero(column.duplicated(keep=False).to_numpy())
            if len(repeated):
                lines = table.line_numbers[repeated[column.iloc[repeated] == column.iloc[repeated[0]]]]
                raise DataFormatError(f"{table.path}, lines {lines[0]} and {lines[1]}: {field} "
                                      f"{column.iloc[repeated[0]]!r} appears twice; give each id one row")


def _remap(tokens: pd.Series, extra: Optional[pd.Series]) -> tuple:
    """Contiguous ids in order of first appearance (interactions first, then the feature file)."""
    codes, uniques = pd.factorize(tokens)
    vocab = pd.Index(uniques)
    if extra is not None:
        vocab = vocab.append(pd.Index(pd.unique(extra[~extra.isin(vocab)])))
    return codes.astype(np.int64) + 1, np.concatenate([[PAD], vocab.to_numpy(dtype=object)])


def load_dataset(settings: DataSettings) -> SequenceDataset:
    """Reads, filters, remaps and orders one dataset from `<data_path>/<name>/`."""
    folder = Path(settings.data_path) / settings.name
    sequence, item, time = settings.sequence_field, settings.item_field, settings.time_field
    inter = _read_table(folder, settings, "inter", [sequence, item, time])
    if inter is None:
        raise DatasetError(f"no interactions: {folder / (settings.name + '.inter')} is missing or load_col "
                           "excludes it")
    if inter.types[time] != "float":
        raise DatasetError(f"TIME_FIELD '{time}' of {inter.path} has type {inter.types[time]}; expected float")
    check_ids(inter, [sequence, item])
    frame, before_counts = _filter(inter.frame, settings, inter.path.name)
    item_table = _read_table(folder, settings, "item", [item]) if settings.selected_features or \
        (folder / f"{settings.name}.item").is_file() else None
    user_table = None if settings.session_field else _read_table(folder, settings, "user", [sequence])
    for table, field in ((item_table, item), (user_table, sequence)):
        if table is not None:
            check_ids(table, [field], unique=True)
    sequence_ids, sequence_tokens = _remap(frame[sequence], _extra_ids(user_table, sequence, before_counts,
                                                                        settings.user_inter_num_interval))
    item_ids, item_tokens = _remap(frame[item], _extra_ids(item_table, item, before_counts,
                                                            settings.item_inter_num_interval))
    times = frame[time].to_numpy(dtype=np.float64)
    if settings.session_field:
        sequence_ids, sequence_tokens = _by_start_time(sequence_ids, sequence_tokens, times)
    order = np.lexsort((times, sequence_ids))  # stable: file order breaks time ties
    counts = np.bincount(sequence_ids, minlength=len(sequence_tokens))
    features = _features(item_table, item, item_tokens, settings, folder)
    return SequenceDataset(settings.name, sequence_tokens, item_tokens,
                           np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                           item_ids[order], features, times[order], sessions=bool(settings.session_field))


def _by_start_time(ids: np.ndarray, tokens: np.ndarray, times: np.ndarray) -> tuple:
    """Session ids renumbered in order of the sessions' first timestamps (first appearance breaks
    ties), so that sessions are ordered by time as the session protocol reads them."""
    start = np.full(len(tokens), np.inf)
    np.minimum.at(start, ids, times)
    rank = np.argsort(start[1:], kind="stable")  # old ids - 1, by start time
    new_of_old = np.zeros(len(tokens), dtype=np.int64)
    new_of_old[rank + 1] = np.arange(1, len(tokens))
    return new_of_old[ids], np.concatenate([tokens[:1], tokens[rank + 1]])


def _extra_ids(table, field: str, before_counts: pd.DataFrame, interval: Optional[str]) -> Optional[pd.Series]:
    """Ids of a feature file (.user/.item) that join the vocabulary without interactions, as in
    RecBole: those whose zero count the count interval admits, never those the filter removed."""
    if table is None:
        return None
    ids = table.frame[field]
    if interval is None:
        return ids
    if not in_intervals(np.zeros(1), interval)[0]:
        return None
    return ids[~ids.isin(before_counts[field])]


def _features(item_table, item: str, item_tokens: np.ndarray, settings: DataSettings, folder: Path) -> list:
    """The selected feature tables, in selected order: columns of the .item file, or dense
    vectors from `item_vector_files` (only the selected ones are read)."""
    if not settings.selected_features:
        return []
    name = f"{settings.name}.item"
    if settings.item_vector_files and (folder / name).is_file():
        check_no_clash(settings.item_vector_files, list(read_header(folder / name, settings.field_separator)),
                       folder / name)
    vector_paths = resolve_vector_files(_selected_vector_files(settings), folder)
    vectors = {key: vector_feature(key, path, item_tokens) for key, path in vector_paths.items()}
    from_file = [feature for feature in settings.selected_features if feature not in vectors]
    columns = {}
    if from_file:
        if item_table is None:
            raise DatasetError(f"selected_features {from_file} need {folder / name}, which is missing or "
                               "excluded by load_col" + _vector_hint(settings))
        columns = {f.name: f for f in build_item_features(item_table, item, item_tokens, from_file,
                                                          list(settings.item_vector_files or {}))}
    return [vectors[f] if f in vectors else columns[f] for f in settings.selected_features]


def _selected_vector_files(settings: DataSettings) -> dict:
    files = settings.item_vector_files or {}
    return {name: files[name] for name in settings.selected_features if name in files}


def _vector_hint(settings: DataSettings) -> str:
    files = list(settings.item_vector_files or {})
    return f" (item_vector_files provides: {', '.join(files)})" if files else ""
