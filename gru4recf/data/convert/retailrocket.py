"""RetailRocket (Kaggle "Retailrocket recommender system dataset", 2016): an e-commerce event log
of 4.5 months, with visitors but no sessions.

Raw files, `,`-separated with a header line:
- `events.csv`: `timestamp,visitorid,event,itemid,transactionid`, timestamps in milliseconds,
  `event` one of view / addtocart / transaction, transactionid empty except for transactions;
- `item_properties_part1.csv` and `item_properties_part2.csv`: `timestamp,itemid,property,value`,
  snapshots of item properties (ms timestamps); only the property `categoryid` is used.

Conversion, as the 2023 study's retailrocket_preproc.py: each visitor's events (all types, by time)
are cut into sessions at more than 1 hour (3600 s) without an event, then only `view` events are
kept, then the protocol (gru4recf/data/convert/sessions.py). Sessions are
numbered 1, 2, ... in output order; `user_id:token` is the visitor. Item feature `category:token`:
the item's latest `categoryid` value (by timestamp, ties: part2 over part1, later lines over
earlier). The study tests on the sessions of the last 7 days, before its fixed split time
1442545200 s (2015-09-18 03:00 UTC; configs/retailrocket_sessions.yaml).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from gru4recf.errors import DatasetError

from .raw_csv import RawFormat, latest, read_raw
from .sessions import Protocol, clean, cut_sessions, feature_rows, renumber
from .writing import write_dataset

NAME = "retailrocket"
RAW_FILES = ("events.csv", "item_properties_part1.csv", "item_properties_part2.csv")
EVENTS = RawFormat(",", ("timestamp", "visitorid", "event", "itemid", "transactionid"), header=True,
                   kinds={"timestamp": "int", "visitorid": "int", "event": "str", "itemid": "int"})
PROPERTIES = RawFormat(",", ("timestamp", "itemid", "property", "value"), header=True,
                       kinds={"timestamp": "int", "itemid": "int", "property": "str", "value": "str"})


def convert(raw: Path, out: Path, protocol: Protocol, show_progress: bool = False) -> Path:
    """Converts the raw files in `raw` to `<out>/retailrocket/retailrocket.{inter,item}`; returns the folder."""
    blocks = [pd.DataFrame({"user": b["visitorid"], "item": b["itemid"], "time": b["timestamp"] / 1000.0,
                            "view": (b["event"] == "view").to_numpy()})
              for b in read_raw(raw / "events.csv", EVENTS, show_progress)]
    if not blocks:
        raise DatasetError(f"raw file {raw / 'events.csv'} has no rows")
    events = pd.concat(blocks, ignore_index=True)
    events["session"] = cut_sessions(events["user"].to_numpy(), events["time"].to_numpy(), protocol.session_gap)
    kept = clean(events[events["view"]].drop(columns="view"), protocol)
    inter = pd.DataFrame({"session_id": renumber(kept["session"]), "user_id": kept["user"],
                          "item_id": kept["item"], "timestamp": kept["time"]})
    categories = []
    for part in ("item_properties_part1.csv", "item_properties_part2.csv"):
        for block in read_raw(raw / part, PROPERTIES, show_progress):
            rows = block[block["property"] == "categoryid"]
            categories.append(latest(rows.rename(columns={"itemid": "item_id", "value": "category"}),
                                     "item_id", "timestamp"))
    item = latest(pd.concat(categories, ignore_index=True), "item_id", "timestamp")[["item_id", "category"]] \
        if categories else None
    return write_dataset(out / NAME, NAME, inter,
                         {"session_id": "token", "user_id": "token", "item_id": "token", "timestamp": "float"},
                         feature_rows(item, inter["item_id"]), {"item_id": "token", "category": "token"})
