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
    with atomic_write(path, "w") as handle:
        handle.write(header + "\n")
        frame.to_csv(handle, sep="\t", header=False, index=False, lineterminator="\n", float_format=float_format)
