"""DIGINETICA (CIKM Cup 2016, personalised e-commerce search): product views, sessions given.

Raw files (from the CIKM Cup 2016 track 2 data, `dataset-train-diginetica`), `;`-separated with
a header line:
- `train-item-views.csv`: `sessionId;userId;itemId;timeframe;eventdate`; `timeframe` is the time in
  milliseconds since the session's start, `eventdate` the day (`2016-05-09`); userId is empty for
  anonymous sessions (most of them), so no user column is written;
- `products.csv`: `itemId;pricelog2;product.name.tokens` (the name as comma-separated token ids);
- `product-categories.csv`: `itemId;categoryId`.

Conversion (as the 2023 study's diginetica_preproc.py computes time): an event's time is the
session's earliest eventdate (00:00 UTC) plus timeframe / 1000 seconds; then the protocol
(gru4recf/data/convert/sessions.py). Item features: `category:token` (categoryId),
`name:token_seq` (the name tokens), `price:float` (pricelog2 as published, the log2 of the price);
an item missing from one of these files gets an empty category, or no name tokens and price 0 (the
value the reader gives an item without an `.item` row), and an empty pricelog2 cell price 0. A second row for
the same item in these files is an error. The 2023 study tests on the sessions of the last 7 days
(configs/diginetica_sessions.yaml).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gru4recf.errors import DataFormatError

from .raw_csv import RawFormat, read_all
from .sessions import Protocol, clean, feature_rows
from .writing import write_dataset

NAME = "diginetica"
RAW_FILES = ("train-item-views.csv", "products.csv", "product-categories.csv")
VIEWS = RawFormat(";", ("sessionId", "userId", "itemId", "timeframe", "eventdate"), header=True,
                  kinds={"sessionId": "int", "itemId": "int", "timeframe": "int", "eventdate": "%Y-%m-%d"})
PRODUCTS = RawFormat(";", ("itemId", "pricelog2", "product.name.tokens"), header=True,
                     kinds={"itemId": "int", "pricelog2": "float?", "product.name.tokens": "str"})
CATEGORIES = RawFormat(";", ("itemId", "categoryId"), header=True, kinds={"itemId": "int", "categoryId": "str"})


def convert(raw: Path, out: Path, protocol: Protocol, show_progress: bool = False) -> Path:
    """Converts the raw files in `raw` to `<out>/diginetica/diginetica.{inter,item}`; returns the folder."""
    views = read_all(raw / "train-item-views.csv", VIEWS, show_progress)
    day = views.groupby("sessionId")["eventdate"].transform("min").to_numpy()
    events = pd.DataFrame({"session": views["sessionId"], "item": views["itemId"],
                           "time": day + views["timeframe"].to_numpy() / 1000.0})
    kept = clean(events, protocol)
    inter = pd.DataFrame({"session_id": kept["session"], "item_id": kept["item"], "timestamp": kept["time"]})
    products = _unique(raw / "products.csv", PRODUCTS, show_progress)
    categories = _unique(raw / "product-categories.csv", CATEGORIES, show_progress)
    item = pd.DataFrame({"item_id": np.union1d(products["itemId"], categories["itemId"])})
    item = item.merge(categories.rename(columns={"itemId": "item_id", "categoryId": "category"}), "left", "item_id")
    item = item.merge(products.rename(columns={"itemId": "item_id", "product.name.tokens": "name",
                                               "pricelog2": "price"}), "left", "item_id")
    item["category"] = item["category"].fillna("")
    item["name"] = item["name"].fillna("").str.replace(",", " ", regex=False)
    item["price"] = item["price"].fillna(0.0)
    return write_dataset(out / NAME, NAME, inter, {"session_id": "token", "item_id": "token", "timestamp": "float"},
                         feature_rows(item[["item_id", "category", "name", "price"]], inter["item_id"]),
                         {"item_id": "token", "category": "token", "name": "token_seq", "price": "float"})


def _unique(path: Path, fmt: RawFormat, show_progress: bool) -> pd.DataFrame:
    """The whole side file; an item with two rows is a DataFormatError naming both lines."""
    frame = read_all(path, fmt, show_progress, with_lines=True)
    twice = frame["itemId"].duplicated(keep=False).to_numpy()
    if twice.any():
        item = frame["itemId"][twice].iloc[0]
        lines = frame["line"].to_numpy()[frame["itemId"].to_numpy() == item]
        raise DataFormatError(f"{path}: item {item} has two rows (lines {lines[0]} and {lines[1]}); "
                              f"expected one row per itemId")
    return frame
