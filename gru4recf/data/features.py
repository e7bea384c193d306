"""Item feature tables: one row per item id, ready to be embedded by a model.

Token features become integer ids (0 = padding/missing), token_seq features a ragged table (all
items' token ids end to end, plus where each item's run starts: memory in proportion to the
tokens, however long one item's cell is), float features a column of values, float_seq features
a dense [n_items, d] matrix (a fixed-length vector per item, such as an image or text embedding
computed elsewhere). Items without a row in the .item file get empty features (id 0, no tokens,
value 0, a zero vector).
"""
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import DataFormatError, DatasetError
from .atomic_files import AtomicTable
from .settings import PAD

SUPPORTED_KINDS = ("token", "token_seq", "float", "float_seq")


@dataclass(frozen=True)
class FeatureField:
    """One item feature. `values` is [n_items] (token: int64 ids, float: float32), [total tokens]
    int64 (token_seq: every item's token ids end to end, item i's are
    `values[offsets[i]:offsets[i + 1]]`, `offsets` [n_items + 1] int64 starting at 0) or
    [n_items, d] float32 (float_seq, zero rows for items without a vector); `vocab[i]` is the token
    of id i. Only token_seq fields have `offsets`."""

    name: str
    kind: str
    values: np.ndarray
    vocab: Optional[np.ndarray] = None
    offsets: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if (self.kind == "token_seq") != (self.offsets is not None):
            raise ValueError(f"feature '{self.name}' ({self.kind}): token_seq fields, and only they, have offsets")
        if self.offsets is not None:
            offsets = self.offsets
            if (offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(self.values)
                    or (np.diff(offsets) < 0).any() or self.values.ndim != 1):
                raise ValueError(f"feature '{self.name}': offsets must rise from 0 to the {len(self.values)} "
                                 "values of a one-dimensional token table")

    @classmethod
    def from_token_lists(cls, name: str, ids: Sequence[Sequence[int]], vocab: np.ndarray) -> "FeatureField":
        """A token_seq field from one list of token ids per item (small tables: tests, examples)."""
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        values = np.array([token for row in ids for token in row], dtype=np.int64)
        return cls(name, "token_seq", values, vocab, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))

    @property
    def num_tokens(self) -> int:
        """Size of the embedding table this field needs (padding id 0 included)."""
        return 0 if self.vocab is None else len(self.vocab)

    @property
    def n_items(self) -> int:
        return len(self.offsets) - 1 if self.offsets is not None else len(self.values)

    def tokens_of(self, item: int) -> np.ndarray:
        """The token ids of item id `item` (token_seq)."""
        return self.values[self.offsets[item]:self.offsets[item + 1]]

    def take(self, items: np.ndarray) -> "FeatureField":
        """The table of the catalogue whose id j is old id `items[j]`."""
        if self.offsets is None:
            return replace(self, values=self.values[items])
        values, offsets = ragged_take(self.values, self.offsets, items)
        return replace(self, values=values, offsets=offsets)


def ragged_take(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Rows `rows` of the ragged table (values [T], offsets [N + 1]), in that order: (values [T'],
    offsets [len(rows) + 1]). Vectorised: each row's run is found from its start and length."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts  # [R]
    new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)  # [R + 1]
    index = np.arange(new_offsets[-1]) + np.repeat(starts - new_offsets[:-1], lengths)  # [T']
    return values[index], new_offsets


def ragged_from_padded(matrix: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """A right-padded [N, T] id matrix (0 = padding; how checkpoint format version 2, written by
    gru4recf 0.2.0 and before, stores a token_seq table) as a ragged table (values, offsets [N + 1])."""
    filled = matrix != 0  # [N, T]
    offsets = np.concatenate([[0], np.cumsum(filled.sum(axis=1))]).astype(np.int64)
    return matrix[filled].astype(np.int64), offsets  # row-major: each row's ids in order


def _token_ids(tokens: pd.Series) -> tuple:
    codes, uniques = pd.factorize(tokens)
    return codes.astype(np.int64) + 1, np.concatenate([[PAD], np.asarray(uniques, dtype=object)])


def _ragged_ids(cells: pd.Series) -> tuple:
    """(ids of every cell's tokens end to end [T], offsets [len(cells) + 1], vocab): ids in order
    of first appearance, from 1."""
    lengths = _lengths(cells)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if not offsets[-1]:
        return np.zeros(0, np.int64), offsets, np.array([PAD], dtype=object)
    ids, vocab = _token_ids(pd.Series(list(chain.from_iterable(cells.to_numpy())), dtype=object))
    return ids, offsets, vocab


def _lengths(cells: pd.Series) -> np.ndarray:
    return np.fromiter(map(len, cells.to_numpy()), np.int64, len(cells))


def vector_dimension(cells: pd.Series, line_numbers: np.ndarray, path: Path, name: str) -> int:
    """The length d shared by every non-empty cell of a float_seq column (empty = no vector).

    d is taken from the first non-empty row; `line_numbers[i]` is the file line of `cells[i]`, so
    a cell of another length is a DataFormatError naming the file, line, field and both lengths.
    """
    lengths = _lengths(cells)
    filled = np.flatnonzero(lengths)
    if len(filled) == 0:
        raise DatasetError(f"{path}: float_seq feature '{name}' has no non-empty cell; a dense feature needs "
                           "a vector (numbers separated by seq_separator) for at least one item")
    dim = int(lengths[filled[0]])
    bad = filled[lengths[filled] != dim]
    if len(bad):
        more = f" ({len(bad) - 1} more line(s) have another length)" if len(bad) > 1 else ""
        raise DataFormatError(
            f"{path}: line {int(line_numbers[bad[0]])}, field '{name}' (float_seq): vector of length "
            f"{int(lengths[bad[0]])}, expected length {dim} (that of line {int(line_numbers[filled[0]])}, the "
            f"first non-empty cell); every non-empty cell of a dense feature must have the same length, an "
            f"empty cell means no vector{more}")
    return dim


def _vector_matrix(cells: pd.Series, rows: np.ndarray, n_items: int, dim: int) -> np.ndarray:
    """[n_items, dim] float32: row rows[i] holds cells[i] (already checked to be of length dim or empty)."""
    values = np.zeros((n_items, dim), dtype=np.float32)
    filled = _lengths(cells) > 0
    if filled.any():
        values[rows[filled]] = np.concatenate(list(cells.to_numpy()[filled])).reshape(-1, dim)
    return values


def build_feature(name: str, kind: str, column: pd.Series, rows: np.ndarray, n_items: int,
                  dim: int = 0) -> FeatureField:
    """Places the file's values for `name` at item ids `rows`; other items stay empty.
    `dim` is the vector length of a float_seq feature (see `vector_dimension`)."""
    if kind == "float":
        values = np.zeros(n_items, dtype=np.float32)
        values[rows] = column.to_numpy(dtype=np.float32)
        return FeatureField(name, kind, values)
    if kind == "float_seq":
        return FeatureField(name, kind, _vector_matrix(column, rows, n_items, dim))
    if kind == "token":
        ids, vocab = _token_ids(column.where(column != "", None))
        ids[column.to_numpy() == ""] = 0
        values = np.zeros(n_items, dtype=np.int64)
        values[rows] = ids
        return FeatureField(name, kind, values, vocab)
    ids, offsets, vocab = _ragged_ids(column)
    lengths = np.zeros(n_items, dtype=np.int64)
    lengths[rows] = np.diff(offsets)  # other items have no tokens
    order = np.argsort(rows, kind="stable")  # the cells in item id order
    values, _ = ragged_take(ids, offsets, order)
    return FeatureField(name, kind, values, vocab, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


def build_item_features(table: AtomicTable, item_field: str, item_tokens: np.ndarray, selected: Sequence[str],
                        other_features: Sequence[str] = ()) -> List[FeatureField]:
    """Feature tables for the `selected` columns of the item file `table`, indexed by item id
    (`item_tokens[i]` is the token of id i). Rows of items outside the catalogue are dropped (the
    loader has refused repeated items: `dataset.check_ids`). A float_seq column's vector length is checked over the
    whole file. A selected column that was not loaded is an error listing the loaded ones (and
    `other_features`, the features available from elsewhere)."""
    loaded = [name for name in table.types if name != item_field]
    for name in selected:
        if name not in loaded:
            others = f"; item_vector_files features: {', '.join(other_features)}" if other_features else ""
            raise DatasetError(f"selected_features names '{name}', which is not a loaded column of "
                               f"{table.path.name}; loaded item features: {', '.join(loaded) or 'none'}{others} "
                               "(check selected_features, load_col and item_vector_files)")
    tokens = table.frame[item_field]
    rows = pd.Index(item_tokens).get_indexer(tokens)
    keep = (rows >= 0) & ~tokens.duplicated(keep="first").to_numpy()
    fields = []
    for name in selected:
        kind = table.types[name]
        dim = vector_dimension(table.frame[name], table.line_numbers, table.path, name) if kind == "float_seq" else 0
        fields.append(build_feature(name, kind, table.frame[name][keep], rows[keep], len(item_tokens), dim))
    return fields
