"""Writes a converted dataset as atomic files, each atomically, the `.inter` file last.

An interrupted conversion therefore leaves no `<name>.inter` (or the previous complete one), and a
run never reads half a dataset. Columns are written with their atomic-file types in the header:
a float column as integers when all its values are, else timestamps with 3 decimals (milliseconds)
and item features in Python's shortest round-trip form.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pandas as pd

from gru4recf.atomic_write import atomic_write
from gru4recf.errors import DataFormatError

_ROWS_PER_BLOCK = 1 << 20  # rows formatted at a time: bounds the digit matrices


def write_dataset(folder: Path, name: str, inter: pd.DataFrame, inter_types: Dict[str, str],
                  item: Optional[pd.DataFrame] = None, item_types: Optional[Dict[str, str]] = None) -> Path:
    """Writes `<folder>/<name>.item` (when given) and then `<folder>/<name>.inter`; returns the folder.

    `*_types` map each column, in order, to its type (token, float, token_seq): a token_seq column
    holds text whose tokens are separated by single spaces. A cell holding a tab or a line break
    (which atomic files cannot hold) is a DataFormatError naming the column.
    """
    if item is not None and item_types:
        _write(folder / f"{name}.item", item, item_types, None)
    _write(folder / f"{name}.inter", inter, inter_types, "%.3f")
    return folder


def _write(path: Path, frame: pd.DataFrame, types: Dict[str, str], float_format: Optional[str]) -> None:
    frame = frame[list(types)].copy()
    for column, kind in types.items():
        values = frame[column]
        if kind == "float" and values.dtype.kind == "f" and np.all(values.to_numpy() == np.round(values.to_numpy())):
            frame[column] = values.astype(np.int64)
        elif values.dtype == object:
            bad = values.astype(str).str.contains("[\t\n\r]", regex=True).to_numpy()
            if bad.any():
                raise DataFormatError(f"cannot write {path}: column {column!r} holds a tab or line break "
                                      f"({values[bad].iloc[0]!r}), which atomic files cannot hold")
    header = "\t".join(f"{column}:{kind}" for column, kind in types.items())
    with atomic_write(path, "wb") as handle:
        handle.write(header.encode("utf-8") + b"\n")
        if float_format == "%.3f" and _numeric(frame):
            for first in range(0, len(frame), _ROWS_PER_BLOCK):
                handle.write(_rows(frame.iloc[first:first + _ROWS_PER_BLOCK]))
        else:
            frame.to_csv(handle, sep="\t", header=False, index=False, lineterminator="\n",
                         float_format=float_format, encoding="utf-8")


def _numeric(frame: pd.DataFrame) -> bool:
    """Whether every column is a non-negative int64 or a non-negative float (the fast path)."""
    return all(frame[c].dtype.kind in "if" and len(frame) and frame[c].min() >= 0 for c in frame.columns)


def _rows(frame: pd.DataFrame) -> bytes:
    """Tab-separated lines of non-negative numbers, integers as such and floats with 3 decimals,
    formatted as byte matrices without a per-row loop (pandas formats floats value by value)."""
    parts = []
    for column in frame.columns:
        values = frame[column].to_numpy()
        if values.dtype.kind == "f":
            thousandths = np.round(values * 1000).astype(np.int64)
            parts += [_digits(thousandths // 1000), _constant(len(values), "."), _digits(thousandths % 1000, 3)]
        else:
            parts.append(_digits(values.astype(np.int64)))
        parts.append(_constant(len(values), "\t"))
    parts[-1] = _constant(len(frame), "\n")
    matrix = np.concatenate(parts, axis=1).ravel()  # [rows * row width]
    return matrix[matrix != 0].tobytes()


def _digits(values: np.ndarray, width: Optional[int] = None) -> np.ndarray:
    """[n] non-negative integers -> [n, width] ASCII digits; without `width`, as wide as the largest
    value and left-padded with NUL bytes (dropped later), else zero-padded to `width`."""
    padded = width is not None
    width = width or len(str(int(values.max(initial=0))))
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)  # [width]
    digits = (values[:, None] // powers) % 10  # [n, width]
    shown = np.ones_like(digits, bool) if padded else (values[:, None] >= powers) | (powers == 1)
    return np.where(shown, digits + ord("0"), 0).astype(np.uint8)


def _constant(rows: int, char: str) -> np.ndarray:
    return np.full((rows, 1), ord(char), np.uint8)
