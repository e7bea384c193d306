"""REES46 (Kaggle "eCommerce behavior data from multi category store", REES46 Marketing Platform):
one month of events per file, with users; its user_session column is not used.

Raw files: `2019-Oct.csv`, `2019-Nov.csv` (the months the 2023 study uses; any `YYYY-Mon.csv` in
the folder is read, in calendar order), `,`-separated with a header line:
`event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session`,
`event_time` as `2019-10-01 00:00:04 UTC`, `event_type` one of view / cart / remove_from_cart /
purchase, category_code and brand often empty.

Conversion, as the 2023 study's rees46_preproc.py: only `view` events are kept; each user's views
(by time) are cut into sessions at more than 1 hour without a view; then the protocol
(gru4recf/data/convert/sessions.py). Sessions are numbered 1, 2, ... in output order;
`user_id:token` is the user. Item features from the item's latest event of any type (by time, ties:
the later line): `category_id:token`, `category_code:token`, `brand:token` (empty when unknown),
`price:float` (0 when that event's price cell is empty). The study tests on the sessions of the last day before its fixed split time
1575158400 s (2019-12-01 00:00 UTC; configs/rees46_sessions.yaml).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pandas as pd

from gru4recf.errors import DatasetError

from .raw_csv import RawFormat, latest, read_raw
from .sessions import Protocol, clean, cut_sessions, feature_rows, renumber
from .writing import write_dataset

NAME = "rees46"
RAW_FILES = ("2019-Oct.csv", "2019-Nov.csv")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_FILE = re.compile(r"^(\d{4})-(" + "|".join(MONTHS) + r")\.csv$")
EVENTS = RawFormat(",", ("event_time", "event_type", "product_id", "category_id", "category_code", "brand",
                         "price", "user_id", "user_session"), header=True,
                   kinds={"event_time": "%Y-%m-%d %H:%M:%S UTC", "event_type": "str", "product_id": "int",
                          "category_id": "str", "category_code": "str", "brand": "str", "price": "float?",
                          "user_id": "int"})
FEATURES = ("category_id", "category_code", "brand", "price")


def month_files(raw: Path) -> List[Path]:
    """The `YYYY-Mon.csv` files of `raw` in calendar order; none is a DatasetError."""
    found = [(int(m.group(1)), MONTHS.index(m.group(2)), path) for path in raw.glob("*.csv")
             if (m := _MONTH_FILE.match(path.name))]
    if not found:
        raise DatasetError(f"no REES46 month file (such as 2019-Oct.csv, 2019-Nov.csv) in {raw}")
    return [path for _, _, path in sorted(found)]


def convert(raw: Path, out: Path, protocol: Protocol, show_progress: bool = False) -> Path:
    """Converts the raw files in `raw` to `<out>/rees46/rees46.{inter,item}`; returns the folder."""
    views, features = [], []
    for path in month_files(raw):
        for block in read_raw(path, EVENTS, show_progress):
            seen = block["event_type"] == "view"
            views.append(pd.DataFrame({"user": block["user_id"][seen], "item": block["product_id"][seen],
                                       "time": block["event_time"][seen]}))
            features.append(latest(block[["product_id", "event_time", *FEATURES]], "product_id", "event_time"))
    events = pd.concat(views, ignore_index=True) if views else pd.DataFrame()
    if not len(events):
        raise DatasetError(f"the REES46 files in {raw} hold no view events")
    events["session"] = cut_sessions(events["user"].to_numpy(), events["time"].to_numpy(), protocol.session_gap)
    kept = clean(events, protocol)
    inter = pd.DataFrame({"session_id": renumber(kept["session"]), "user_id": kept["user"],
                          "item_id": kept["item"], "timestamp": kept["time"]})
    item = latest(pd.concat(features, ignore_index=True), "product_id", "event_time")
    item = item.rename(columns={"product_id": "item_id"})[["item_id", *FEATURES]]
    item["price"] = item["price"].fillna(0.0)
    return write_dataset(out / NAME, NAME, inter,
                         {"session_id": "token", "user_id": "token", "item_id": "token", "timestamp": "float"},
                         feature_rows(item, inter["item_id"]),
                         {"item_id": "token", "category_id": "token", "category_code": "token", "brand": "token",
                          "price": "float"})
