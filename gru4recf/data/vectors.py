"""Dense item vectors from a .npy file keyed by item token: how embeddings computed elsewhere
(image, text, graph models) are usually kept.

`<stem>.npy` holds a 2-D float array [N, d]; `<stem>.tokens` beside it holds the N item tokens,
one per line (UTF-8), row i of the array being the vector of token i. Loading is safe
(`allow_pickle=False`) and memory-mapped, so only the rows of the dataset's items are read.
"""
import logging
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import DataFormatError, DatasetError
from .features import FeatureField

logger = logging.getLogger("gru4recf")

_BOM = "\ufeff"


def tokens_path(npy_path: Path) -> Path:
    """The token file of a vector file: same folder and stem, suffix `.tokens`."""
    return npy_path.with_suffix(".tokens")


def resolve_vector_files(files: Optional[Mapping[str, str]], folder: Path) -> dict:
    """{feature name: configured path} -> {feature name: Path}; a relative path is taken from the
    dataset folder `<data_path>/<dataset>/`. A missing file is a DatasetError saying where it looked."""
    paths = {}
    for name, configured in (files or {}).items():
        path = Path(configured) if Path(configured).is_absolute() else folder / configured
        if not path.is_file():
            relative = not Path(configured).is_absolute()
            where = f" (a relative path is taken from the dataset folder {folder})" if relative else ""
            raise DatasetError(f"item_vector_files['{name}'] = {configured!r}: looked for {path}, which "
                               f"{'is not a file' if path.exists() else 'does not exist'}{where}")
        paths[name] = path
    return paths


def check_no_clash(files: Mapping[str, str], item_columns: Sequence[str], item_file: Path) -> None:
    """A vector feature may not share its name with a column of the .item file (which one would
    selected_features mean?)."""
    for name, path in files.items():
        if name in item_columns:
            raise DatasetError(f"item_vector_files names feature '{name}' ({path}), but {item_file} already has a "
                               f"column '{name}'; give the vector feature another name")


def read_vector_file(path: Path) -> np.ndarray:
    """The [N, d] float array of `path`, memory-mapped; errors name the file and what was found."""
    if not path.is_file():
        raise DatasetError(f"item vector file {path} does not exist")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataFormatError(f"item vector file {path} is not a readable .npy array ({error}); expected a 2-D "
                              "float array saved with numpy.save") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise DataFormatError(f"item vector file {path} is an .npz archive; expected one 2-D float array saved "
                              "with numpy.save (.npy)")
    if array.ndim != 2 or array.shape[1] == 0:
        raise DataFormatError(f"item vector file {path} holds an array of shape {array.shape}; expected 2-D "
                              "[items, dimension] with dimension >= 1")
    if array.dtype.kind != "f":
        raise DataFormatError(f"item vector file {path} holds {array.dtype} values; expected floats "
                              "(float16, float32 or float64)")
    return array


def read_tokens(path: Path) -> list:
    """The item tokens of a `.tokens` file, one per line; errors name the file and line."""
    if not path.is_file():
        raise DatasetError(f"item token file {path} does not exist; a vector file X.npy needs X.tokens beside "
                           "it with one item token per line, in the order of the array's rows")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DataFormatError(f"item token file {path}: line {line} is not valid UTF-8; save it as UTF-8") from None
    text = text[len(_BOM):] if text.startswith(_BOM) else text
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    tokens = [line[:-1] if line.endswith("\r") else line for line in lines]
    empty = [number for number, token in enumerate(tokens, 1) if not token]
    if empty:
        raise DataFormatError(f"item token file {path}: line {empty[0]} is empty; expected one item token per line")
    return tokens


def vector_feature(name: str, npy_path: Path, item_tokens: np.ndarray) -> FeatureField:
    """The float_seq feature `name` for the catalogue `item_tokens` (id i has token i, id 0 is
    padding): [n_items, d] float32, zeros for items without a vector. Tokens of the file that
    are not in the catalogue are ignored; both counts are logged."""
    array = read_vector_file(npy_path)
    token_file = tokens_path(npy_path)
    tokens = read_tokens(token_file)
    if len(tokens) != array.shape[0]:
        raise DataFormatError(f"item vector file {npy_path} has {array.shape[0]} rows but its token file "
                              f"{token_file} has {len(tokens)} tokens; expected one token per row")
    index = pd.Index(tokens)
    duplicated = np.flatnonzero(index.duplicated())
    if len(duplicated):
        token = tokens[duplicated[0]]
        raise DataFormatError(f"item token file {token_file}: token {token!r} appears on line "
                              f"{tokens.index(token) + 1} and again on line {duplicated[0] + 1}; "
                              "each item may have one vector")
    positions = index.get_indexer(pd.Index(item_tokens[1:]))  # padding id 0 has no vector
    found = np.flatnonzero(positions >= 0)
    rows = positions[found]
    vectors = np.asarray(array[np.sort(rows)], dtype=np.float64)[np.argsort(np.argsort(rows))]  # mmap reads in order
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        row = int(rows[bad[0]])
        raise DataFormatError(f"item vector file {npy_path}: row {row} (token {tokens[row]!r}) holds a value that "
                              "is not a finite number")
    values = np.zeros((len(item_tokens), array.shape[1]), dtype=np.float32)
    values[found + 1] = vectors
    logger.info(f"item vectors '{name}' from {npy_path}: {len(found)} of {len(item_tokens) - 1} items have a vector "
                f"(d={array.shape[1]}); {len(item_tokens) - 1 - len(found)} items without one get zeros, "
                f"{len(tokens) - len(found)} tokens of the file are not in the dataset and are ignored")
    return FeatureField(name, "float_seq", values)
