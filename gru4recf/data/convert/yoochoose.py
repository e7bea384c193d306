"""YOOCHOOSE (RecSys Challenge 2015, "rsc15"): clicks of an e-commerce site, sessions given.

Raw files (from the challenge, e.g. its Kaggle mirror "recsys-challenge-2015"):
`yoochoose-clicks.dat`, and optionally `yoochoose-test.dat` (the challenge's test sessions, the same
format), both without a header, one click per line: `SessionId,Timestamp,ItemId,Category`, the time
in ISO 8601 UTC with milliseconds (`2014-04-07T10:51:09.277Z`), the category `0` (unknown), `S` (a
special offer), `1`-`12` or a brand id.

Conversion:
- sessions are the file's SessionId; timestamps become unix seconds with milliseconds (UTC);
- protocol 'hidasi2023' (default) reads both files when yoochoose-test.dat is there (the 2023
  study concatenates them), drops immediate repeats and filters until stable; 'gru4rec2016' reads
  yoochoose-clicks.dat only and filters once, as the original GRU4Rec preprocessing
  (gru4recf/data/convert/sessions.py states both);
- item feature `category:token`: the item's latest category other than `0` (by time, ties: the
  later line); an item only ever seen with `0` has no `.item` row.
The papers test on the sessions of the last day (configs/yoochoose_sessions.yaml).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from gru4recf.errors import DatasetError

from .raw_csv import RawFormat, latest, read_raw
from .sessions import Protocol, clean, feature_rows
from .writing import write_dataset

NAME = "yoochoose"
RAW_FILES = ("yoochoose-clicks.dat", "yoochoose-test.dat (optional)")
CLICKS = RawFormat(",", ("SessionId", "Timestamp", "ItemId", "Category"), header=False,
                   kinds={"SessionId": "int", "Timestamp": "ISO8601", "ItemId": "int", "Category": "str"})


def convert(raw: Path, out: Path, protocol: Protocol, show_progress: bool = False) -> Path:
    """Converts the raw files in `raw` to `<out>/yoochoose/yoochoose.{inter,item}`; returns the folder."""
    files = [raw / "yoochoose-clicks.dat"]
    if protocol.yoochoose_test_file and (raw / "yoochoose-test.dat").is_file():
        files.append(raw / "yoochoose-test.dat")
    clicks, categories = [], []
    for path in files:
        for block in read_raw(path, CLICKS, show_progress):
            clicks.append(pd.DataFrame({"session": block["SessionId"], "item": block["ItemId"],
                                        "time": block["Timestamp"]}))
            known = block[block["Category"] != "0"]
            categories.append(latest(known.rename(columns={"ItemId": "item_id", "Category": "category"}),
                                     "item_id", "Timestamp"))
    if not clicks:
        raise DatasetError(f"raw file {files[0]} has no rows")
    kept = clean(pd.concat(clicks, ignore_index=True), protocol)
    inter = pd.DataFrame({"session_id": kept["session"], "item_id": kept["item"], "timestamp": kept["time"]})
    item = latest(pd.concat(categories, ignore_index=True), "item_id", "Timestamp")[["item_id", "category"]]
    return write_dataset(out / NAME, NAME, inter, {"session_id": "token", "item_id": "token", "timestamp": "float"},
                         feature_rows(item, inter["item_id"]), {"item_id": "token", "category": "token"})
