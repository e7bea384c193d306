"""Strict, fast reader of RecBole atomic files (``.inter``, ``.item``, ``.user``).

An atomic file is UTF-8 text: a header of ``name:type`` fields, then one row per line, both split
by ``field_separator``. Every problem is reported as a :class:`DataFormatError` naming the file,
the 1-based line, the field and the value, because this is where user data enters the library and
deeper code trusts what it returns. Row checks run on the byte buffer with numpy and parsing is
done by the pandas C engine, so a 10M-row file reads in seconds rather than minutes.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gru4recf.errors import DataFormatError

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")

_BOM = b"\xef\xbb\xbf"
_OTHER_SEPARATORS = ("\t", ",", ";", "|", " ")
_BLOCK = 1 << 25  # bytes compared at a time, bounds the temporary boolean arrays


@dataclass(frozen=True)
class AtomicTable:
    """The checked content of one atomic file.

    ``frame`` has one column per loaded field, in file order, and a RangeIndex: ``token`` -> str
    (object dtype, empty cell -> ''); ``float`` -> float64 (always finite); ``token_seq`` -> object
    column of ``list[str]``; ``float_seq`` -> object column of 1-D float64 ``np.ndarray``.
    ``line_numbers[i]`` is the 1-based line of row ``i`` in the file, so later code can name it.
    """

    path: Path
    types: dict[str, str]
    frame: pd.DataFrame
    line_numbers: np.ndarray


def read_header(path: str | os.PathLike[str], field_separator: str = "\t") -> dict[str, str]:
    """Return ``{column: type}`` of an atomic file's header, in file order, reading only line 1.

    Runs the same header checks as :func:`read_atomic`, so a config can be checked against the
    columns of a large file without reading its rows.
    """
    path = Path(path)
    _check_separators(field_separator, " ")
    with open(path, "rb") as handle:
        first = handle.readline()
    first = first[len(_BOM):] if first.startswith(_BOM) else first
    if not first:
        raise DataFormatError(f"{path}: file is empty; expected a header of name:type fields")
    _check_utf8(path, first)
    return _parse_header(path, first.rstrip(b"\n").rstrip(b"\r"), field_separator)


def read_atomic(
    path: str | os.PathLike[str],
    field_separator: str = "\t",
    seq_separator: str = " ",
    columns: Iterable[str] | None = None,
) -> AtomicTable:
    """Read and check an atomic file, keeping ``columns`` (None = all) converted by type.

    Every row's field count is checked, but only the kept columns are converted (and so checked).
    Accepted: a UTF-8 BOM, CRLF line ends, no final newline, blank lines (skipped, still counted in
    line numbers). Sequence cells are split on ``seq_separator`` and empty pieces are dropped, as
    RecBole does, so an empty cell is ``[]`` / an empty array.
    Raises DataFormatError for any malformed header, row, number or byte.
    """
    path = Path(path)
    _check_separators(field_separator, seq_separator)
    raw = _read_bytes(path)
    types = _parse_header(path, raw[: _line_end(raw, 0)], field_separator)
    keep = _select(path, types, columns)
    starts, ends = _line_bounds(raw)
    blank = starts == ends
    _check_rows(path, raw, starts, ends, blank, types, field_separator)
    line_numbers = np.flatnonzero(~blank[1:]).astype(np.int64) + 2
    if len(line_numbers) == 0:
        raise DataFormatError(f"{path}: has a header but no rows; expected at least one row")
    data = np.delete(np.frombuffer(raw, np.uint8), ends[blank]).tobytes() if blank.any() else raw
    del starts, ends, blank
    source = _Source(path, raw, line_numbers, field_separator)
    frame = _parse_rows(source, data, types, keep, seq_separator)
    return AtomicTable(path, {name: types[name] for name in keep}, frame, line_numbers)


def _check_separators(field_separator: str, seq_separator: str) -> None:
    ok = isinstance(field_separator, str) and len(field_separator) == 1
    if not ok or not field_separator.isascii() or field_separator in "\r\n":
        raise DataFormatError(
            f"field_separator must be one ASCII character other than a line break, "
            f"got {field_separator!r}")
    if not isinstance(seq_separator, str) or not seq_separator or "\n" in seq_separator:
        raise DataFormatError(f"seq_separator must be a non-empty string without a line break, "
                              f"got {seq_separator!r}")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, checked as UTF-8, without BOM, CRLF turned into LF."""
    raw = path.read_bytes()
    raw = raw[len(_BOM):] if raw.startswith(_BOM) else raw
    if not raw.strip():
        raise DataFormatError(f"{path}: file is empty; expected a header of name:type fields")
    _check_utf8(path, raw)
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
        raw = raw[:-1] if raw.endswith(b"\r") else raw
    return raw


def _check_utf8(path: Path, raw: bytes) -> None:
    if raw.isascii():
        return
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        text = raw[error.start - column + 1: _line_end(raw, error.start)]
        raise DataFormatError(
            f"{path}: line {line} is not valid UTF-8 (byte 0x{raw[error.start]:02x} at byte "
            f"{column} of the line: {_show(text)}); save the file as UTF-8") from None


def _line_end(raw: bytes, start: int) -> int:
    end = raw.find(b"\n", start)
    return len(raw) if end < 0 else end


def _parse_header(path: Path, line: bytes, sep: str) -> dict[str, str]:
    text = line.decode("utf-8")
    if not text.strip():
        raise DataFormatError(f"{path}: line 1 (the header) is empty; expected name:type fields "
                              f"separated by field_separator={sep!r}")
    types: dict[str, str] = {}
    for item in text.split(sep):
        name, colon, ftype = item.partition(":")
        if not colon or not name or ":" in ftype:
            raise DataFormatError(
                f"{path}: line 1 (header): field {item!r} is not name:type with type one of "
                f"{', '.join(FIELD_TYPES)}{_header_hint(text, sep)}")
        if ftype not in FIELD_TYPES:
            raise DataFormatError(f"{path}: line 1 (header): field {name!r} has unknown type "
                                  f"{ftype!r}; allowed types: {', '.join(FIELD_TYPES)}")
        if name in types:
            raise DataFormatError(f"{path}: line 1 (header): column {name!r} appears twice")
        types[name] = ftype
    return types


def _header_hint(text: str, sep: str) -> str:
    for other in _OTHER_SEPARATORS:
        parts = [part for part in text.split(other) if part]
        if other != sep and len(parts) > 1 and all(":" in part for part in parts):
            return _separator_hint(other, sep)
    return ""


def _separator_hint(found: str, sep: str) -> str:
    return (f"; the line looks {found!r}-separated: if the file is not separated by {sep!r}, "
            f"set field_separator (currently {sep!r})")


def _select(path: Path, types: dict[str, str], columns: Iterable[str] | None) -> list[str]:
    if columns is None:
        return list(types)
    wanted = {columns} if isinstance(columns, str) else set(columns)
    missing = sorted(wanted.difference(types))
    if missing:
        raise DataFormatError(f"{path}: requested column(s) {', '.join(map(repr, missing))} not in "
                              f"the header; the file has: {', '.join(types)}")
    return [name for name in types if name in wanted]


def _positions(buf: np.ndarray, byte: int) -> np.ndarray:
    """Sorted int64 offsets of ``byte`` in ``buf``, found block by block to bound memory."""
    parts = [np.flatnonzero(buf[at: at + _BLOCK] == byte) + at for at in range(0, len(buf), _BLOCK)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _line_bounds(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, the newline or EOF) byte offsets of every line."""
    ends = _positions(np.frombuffer(raw, np.uint8), ord("\n"))
    if not raw.endswith(b"\n"):
        ends = np.append(ends, len(raw))
    starts = np.concatenate(([0], ends[:-1] + 1))
    return starts, ends


def _field_counts(raw: bytes, ends: np.ndarray, sep: str) -> np.ndarray:
    """Number of fields on each line: separators per line (bincount by line) plus one."""
    buf = np.frombuffer(raw, np.uint8)
    counts = np.ones(len(ends), np.int64)
    for at in range(0, len(buf), _BLOCK):
        hits = np.flatnonzero(buf[at: at + _BLOCK] == ord(sep)) + at
        if len(hits):
            lines = np.searchsorted(ends, hits)
            counts[lines[0]: lines[-1] + 1] += np.bincount(lines - lines[0])
    return counts


def _check_rows(path: Path, raw: bytes, starts: np.ndarray, ends: np.ndarray,
                blank: np.ndarray, types: dict[str, str], sep: str) -> None:
    counts = _field_counts(raw, ends, sep)
    bad = np.flatnonzero((counts != len(types)) & ~blank)
    bad = bad[bad > 0]
    if len(bad) == 0:
        return
    index = int(bad[0])
    text = raw[starts[index]: ends[index]].decode("utf-8")
    more = f" ({len(bad) - 1} more line(s) have a wrong field count)" if len(bad) > 1 else ""
    hint = next((_separator_hint(c, sep) for c in _OTHER_SEPARATORS if c != sep and c in text), "")
    raise DataFormatError(
        f"{path}: line {index + 1} has {_fields(counts[index])}, expected {len(types)} "
        f"({', '.join(types)}): {_show(text)}{hint}{more}")


def _read_csv(data: bytes, types: dict[str, str], keep: list[str], sep: str,
              float_dtype: type) -> pd.DataFrame:
    dtypes = {name: float_dtype if types[name] == "float" else object for name in keep}
    return pd.read_csv(
        io.BytesIO(data), sep=sep, header=None, names=list(types), usecols=keep, dtype=dtypes,
        skiprows=1, keep_default_na=False, na_filter=False, quoting=csv.QUOTE_NONE, engine="c",
        lineterminator="\n", skip_blank_lines=False, encoding="utf-8")[keep]


@dataclass(frozen=True)
class _Source:
    """What an error message needs to quote a cell: the file, its bytes, and row -> line."""

    path: Path
    raw: bytes
    line_numbers: np.ndarray
    sep: str

    def cell(self, row: int, field_index: int) -> tuple[int, str]:
        """The 1-based line of ``row`` and the text of its field ``field_index``."""
        line = int(self.line_numbers[row])
        starts, ends = _line_bounds(self.raw)
        text = self.raw[starts[line - 1]: ends[line - 1]].decode("utf-8")
        return line, text.split(self.sep)[field_index]


def _parse_rows(source: _Source, data: bytes, types: dict[str, str], keep: list[str],
                seq_sep: str) -> pd.DataFrame:
    if not keep:
        return pd.DataFrame(index=pd.RangeIndex(len(source.line_numbers)))
    try:
        frame = _read_csv(data, types, keep, source.sep, np.float64)
    except ValueError:  # some float cell is not a number: read text, the checks below name it
        frame = _read_csv(data, types, keep, source.sep, object)
    for name in keep:
        field = (list(types).index(name), name)
        if types[name] == "float":
            frame[name] = _to_floats(frame[name], source, field)
        elif types[name] == "token_seq":
            frame[name] = pd.Series(_split(frame[name], seq_sep), dtype=object)
        elif types[name] == "float_seq":
            frame[name] = _float_seqs(frame[name], seq_sep, source, field)
    return frame


def _to_floats(column: pd.Series, source: _Source, field: tuple[int, str]) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        line, cell = source.cell(int(bad[0]), field[0])
        problem = "is empty" if not cell.strip() else "is not a finite number"
        problem = f"value {cell!r} {problem}"
        raise DataFormatError(f"{source.path}: line {line}, field {field[1]!r} (float): {problem};"
                              f" expected a finite number such as 3 or 4.5")
    return values


def _split(column: pd.Series, seq_sep: str) -> list[list[str]]:
    return [[piece for piece in cell.split(seq_sep) if piece] for cell in column.to_numpy()]


def _float_seqs(column: pd.Series, seq_sep: str, source: _Source,
                field: tuple[int, str]) -> np.ndarray:
    pieces = _split(column, seq_sep)
    ends = np.cumsum(np.fromiter(map(len, pieces), np.int64, len(pieces)))
    flat = [piece for cell in pieces for piece in cell]
    values = pd.to_numeric(pd.Series(flat, dtype=object), errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        line, cell = source.cell(int(np.searchsorted(ends, bad[0], side="right")), field[0])
        raise DataFormatError(
            f"{source.path}: line {line}, field {field[1]!r} (float_seq): element "
            f"{flat[bad[0]]!r} of {_show(cell)} is not a finite number; expected finite numbers "
            f"separated by seq_separator")
    out = np.empty(len(pieces), dtype=object)
    for row, array in enumerate(np.split(values, ends[:-1])):
        out[row] = array
    return out


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"


def _show(text: str | bytes, limit: int = 120) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
