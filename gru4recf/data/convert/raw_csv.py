"""Checked, chunked reading of the raw CSV files that session datasets are published as.

A raw file is read block by block (whole lines, about 64 MB at a time) so that a 33M-row log never
has to be held as text. Each block is checked before it is parsed: every line must have the
format's number of fields (counted on the bytes with numpy, as the atomic-file reader does), integer
columns must hold integers and time columns times of the stated format. The first problem is a
DataFormatError naming the file, its 1-based line, the column, the value found and what was
expected. Blank lines are skipped (still counted), CRLF line ends and a UTF-8 BOM are accepted.
Fields are split on the separator without quoting: none of the published formats quotes a field.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import pandas as pd

from gru4recf.errors import DataFormatError, DatasetError

from ..atomic_files import _field_counts, _line_bounds, _show

BLOCK_BYTES = 1 << 26
_BOM = b"\xef\xbb\xbf"
_INTEGER = r"-?\d+"
EXAMPLES = {"ISO8601": "2014-04-07T10:51:09.277Z", "%Y-%m-%d": "2016-05-09",
            "%Y-%m-%d %H:%M:%S UTC": "2019-10-01 00:00:00 UTC"}  # for error messages


@dataclass(frozen=True)
class RawFormat:
    """One published file format.

    `columns` are the field names in file order; with `header` the first line must be exactly
    those names joined by `sep`. `kinds` maps the columns to keep to 'int' (int64), 'float'
    (float64, finite), 'float?' (the same, an empty cell read as NaN), 'str' (text, empty allowed)
    or a time format for pandas.to_datetime such as '%Y-%m-%d' or 'ISO8601' (read as UTC,
    returned as float64 unix seconds). Columns not in `kinds` are counted but not kept.
    """

    sep: str
    columns: Tuple[str, ...]
    header: bool
    kinds: Dict[str, str] = field(default_factory=dict)

    @property
    def header_line(self) -> str:
        return self.sep.join(self.columns)


def read_raw(path: Path, fmt: RawFormat, show_progress: bool = False, with_lines: bool = False,
             block_bytes: int = BLOCK_BYTES) -> Iterator[pd.DataFrame]:
    """Yields the kept columns of `path`, block by block, checked and typed as `fmt` says (with
    `with_lines`, also a column `line`: the 1-based file line of each row).

    Raises DatasetError when the file is missing and DataFormatError for a wrong header, a line
    with the wrong number of fields or a cell of the wrong kind (file, line, column, value and
    the expected format in the message).
    """
    if not path.is_file():
        raise DatasetError(f"raw file {path} is missing; expected the published file {path.name} there")
    from tqdm import tqdm  # imported here: only a conversion needs it

    size = path.stat().st_size
    with open(path, "rb") as handle, tqdm(total=size, unit="B", unit_scale=True, desc=f"Reading {path.name}",
                                          disable=None if show_progress else True, leave=False) as bar:
        first_line, rest = 1, b""
        start = handle.read(len(_BOM))
        rest = b"" if start == _BOM else start
        if fmt.header:
            rest += handle.readline()
            _check_header(path, rest, fmt)
            first_line, rest = 2, b""
        while True:
            chunk = handle.read(block_bytes)
            bar.update(len(chunk))
            data = rest + chunk
            if not data:
                return
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            if cut == 0:  # a block with no line end yet: read on
                rest = data
                continue
            block, rest = data[:cut], data[cut:]
            frame, lines = _parse_block(path, block, fmt, first_line, with_lines)
            first_line += lines
            if len(frame):
                yield frame
            if not chunk:
                return


def _check_header(path: Path, line: bytes, fmt: RawFormat) -> None:
    found = line.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace")
    if found != fmt.header_line:
        raise DataFormatError(f"{path}: line 1 (the header) is {_show(found)}; expected {fmt.header_line!r} "
                              f"(fields separated by {fmt.sep!r})")


def _parse_block(path: Path, block: bytes, fmt: RawFormat, first_line: int,
                 with_lines: bool) -> Tuple[pd.DataFrame, int]:
    """The typed rows of `block` (whole lines starting at line `first_line`) and its line count."""
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
        block = block[:-1] if block.endswith(b"\r") else block  # the last line of a file without a final newline
    starts, ends = _line_bounds(block)
    blank = starts == ends
    counts = _field_counts(block, ends, fmt.sep)
    bad = np.flatnonzero((counts != len(fmt.columns)) & ~blank)
    if len(bad):
        at = int(bad[0])
        text = block[starts[at]: ends[at]].decode("utf-8", errors="replace")
        raise DataFormatError(
            f"{path}: line {first_line + at} has {counts[at]} field(s), expected {len(fmt.columns)} "
            f"({fmt.header_line}): {_show(text)}")
    lines = np.flatnonzero(~blank) + first_line  # [rows] the file line of each row
    if blank.any():
        block = np.delete(np.frombuffer(block, np.uint8), ends[blank]).tobytes()
    if not len(lines):
        return pd.DataFrame(), len(ends)
    frame = _typed(path, block, fmt, lines)
    if with_lines:
        frame["line"] = lines
    return frame, len(ends)


def _typed(path: Path, block: bytes, fmt: RawFormat, lines: np.ndarray) -> pd.DataFrame:
    keep = [name for name in fmt.columns if name in fmt.kinds]
    numeric = {name: (np.int64 if fmt.kinds[name] == "int" else np.float64) for name in keep
               if fmt.kinds[name] in ("int", "float")}  # 'float?' is read as text: empty cells are allowed
    try:
        frame = _read(block, fmt, keep, numeric)
    except (ValueError, OverflowError):  # some numeric cell is not a number: read text, name it below
        frame = _read(block, fmt, keep, {})
    for name in keep:
        kind = fmt.kinds[name]
        if kind in ("int", "float", "float?"):
            if frame[name].dtype == object:
                frame[name] = _numbers(path, frame[name], kind, name, lines)
            elif kind == "float" and not np.isfinite(frame[name].to_numpy()).all():
                frame[name] = _numbers(path, frame[name].astype(str), kind, name, lines)
        elif kind != "str":
            frame[name] = _times(path, frame[name], kind, name, lines)
    return frame


def _read(block: bytes, fmt: RawFormat, keep: list, numeric: dict) -> pd.DataFrame:
    dtypes = {name: numeric.get(name, object) for name in keep}
    return pd.read_csv(io.BytesIO(block), sep=fmt.sep, header=None, names=list(fmt.columns), usecols=keep,
                       dtype=dtypes, keep_default_na=False, na_filter=False, quoting=csv.QUOTE_NONE, engine="c",
                       lineterminator="\n", skip_blank_lines=True, encoding="utf-8", encoding_errors="replace")[keep]


def _numbers(path: Path, column: pd.Series, kind: str, name: str, lines: np.ndarray) -> np.ndarray:
    """The column as int64 / float64 (kind 'float?': empty cells NaN); the first cell that is not
    one is a DataFormatError."""
    text = column.astype(str)
    empty = (text.str.strip() == "").to_numpy() if kind == "float?" else np.zeros(len(text), bool)
    values = pd.to_numeric(text.where(~empty, "0"), errors="coerce").to_numpy(np.float64, copy=True)
    ok = np.isfinite(values)
    if kind == "int":
        ok &= text.str.fullmatch(_INTEGER).to_numpy(bool)
    bad = np.flatnonzero(~ok)
    if len(bad):
        at = int(bad[0])
        expected = "an integer such as 214536502" if kind == "int" else "a finite number such as 3.5"
        raise DataFormatError(f"{path}: line {lines[at]}, column {name!r}: value {column.iloc[at]!r} is not "
                              f"{expected}" + (" (or empty)" if kind == "float?" else ""))
    if kind == "int":
        return pd.to_numeric(text).to_numpy(np.int64)
    values[empty] = np.nan
    return values


def _times(path: Path, column: pd.Series, time_format: str, name: str, lines: np.ndarray) -> np.ndarray:
    parsed = pd.to_datetime(column, format=time_format, errors="coerce", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        at = int(bad[0])
        example = EXAMPLES.get(time_format, time_format)
        raise DataFormatError(f"{path}: line {lines[at]}, column {name!r}: value {column.iloc[at]!r} is not a time "
                              f"such as {example!r}")
    nanoseconds = parsed.to_numpy("datetime64[ns]").astype(np.int64)  # the UTC instant; to_numpy drops the zone
    return nanoseconds / 1e9


def read_all(path: Path, fmt: RawFormat, show_progress: bool = False, with_lines: bool = False) -> pd.DataFrame:
    """The whole file as one frame (see `read_raw`); a file without rows is a DatasetError."""
    blocks = list(read_raw(path, fmt, show_progress, with_lines))
    if not blocks:
        raise DatasetError(f"raw file {path} has no rows; expected lines {fmt.header_line!r}")
    return pd.concat(blocks, ignore_index=True)


def latest(frame: pd.DataFrame, key: str, time: Optional[str]) -> pd.DataFrame:
    """The last row of each `key` by `time` (ties: the later row); rows in their order by time.

    Used per block and then over all blocks: the result is the same as over the whole file,
    because a block's rows come after the previous block's.
    """
    ordered = frame.sort_values(time, kind="stable") if time else frame
    return ordered.drop_duplicates(key, keep="last")
