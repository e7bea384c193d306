"""Item feature tables: one row per item id, ready to be embedded by a model.

Token features become integer ids (0 = padding/missing), token_seq features a right-padded id
matrix, float features a column of values. Items without a row in the .item file get empty
features (id 0, no tokens, value 0).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError

SUPPORTED_KINDS = ("token", "token_seq", "float")


@dataclass(frozen=True)
class FeatureField:
    """One item feature. `values` is [n_items] (token: int64 ids, float: float32) or
    [n_items, max_tokens] int64 (token_seq, right-padded with 0); `vocab[i]` is the token of id i."""

    name: str
    kind: str
    values: np.ndarray
    vocab: Optional[np.ndarray] = None

    @property
    def num_tokens(self) -> int:
        """Size of the embedding table this field needs (padding id 0 included)."""
        return 0 if self.vocab is None else len(self.vocab)


def _token_ids(tokens: pd.Series) -> tuple:
    codes, uniques = pd.factorize(tokens)
    return codes.astype(np.int64) + 1, np.concatenate([["[PAD]"], np.asarray(uniques, dtype=object)])


def _seq_matrix(cells: pd.Series) -> tuple:
    lengths = cells.map(len).to_numpy(dtype=np.int64)
    flat = pd.Series(np.concatenate([np.asarray(c, dtype=object) for c in cells]) if len(cells) else [], dtype=object)
    ids, vocab = _token_ids(flat) if len(flat) else (np.zeros(0, np.int64), np.array(["[PAD]"], dtype=object))
    matrix = np.zeros((len(cells), max(int(lengths.max(initial=0)), 1)), dtype=np.int64)
    rows = np.repeat(np.arange(len(cells)), lengths)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    matrix[rows, cols] = ids
    return matrix, vocab


def build_feature(name: str, kind: str, column: pd.Series, rows: np.ndarray, n_items: int) -> FeatureField:
    """Places the file's values for `name` at item ids `rows`; other items stay empty."""
    if kind == "float":
        values = np.zeros(n_items, dtype=np.float32)
        values[rows] = column.to_numpy(dtype=np.float32)
        return FeatureField(name, kind, values)
    if kind == "token":
        ids, vocab = _token_ids(column.where(column != "", None))
        ids[column.to_numpy() == ""] = 0
        values = np.zeros(n_items, dtype=np.int64)
        values[rows] = ids
        return FeatureField(name, kind, values, vocab)
    matrix, vocab = _seq_matrix(column)
    values = np.zeros((n_items, matrix.shape[1]), dtype=np.int64)
    values[rows] = matrix
    return FeatureField(name, kind, values, vocab)


def build_item_features(item_frame: Optional[pd.DataFrame], types: dict, item_field: str,
                        item_ids: np.ndarray, n_items: int, selected: Sequence[str],
                        file_name: str) -> List[FeatureField]:
    """Feature tables for `selected` columns of the item file.

    `item_ids[i]` is the remapped id of row i of `item_frame`. A selected column that was not
    loaded is an error listing the loaded ones.
    """
    loaded = [name for name in types if name != item_field]
    fields = []
    for name in selected:
        if item_frame is None or name not in types or name == item_field:
            raise DatasetError(f"selected_features names '{name}', which is not a loaded column of "
                               f"{file_name}; loaded item features: {', '.join(loaded) or 'none'} "
                               "(check selected_features and load_col)")
        if types[name] not in SUPPORTED_KINDS:
            raise DatasetError(f"selected feature '{name}' of {file_name} has type {types[name]}; "
                               f"supported types: {', '.join(SUPPORTED_KINDS)}")
        fields.append(build_feature(name, types[name], item_frame[name], item_ids, n_items))
    return fields
