"""Converters from the raw files of published session datasets to atomic files with a session field.

`convert(name, raw, data_path)` reads the files a user downloaded (nothing here reaches the
internet) from the folder `raw` and writes `<data_path>/<name>/<name>.inter`
(`session_id:token [user_id:token] item_id:token timestamp:float`, unix seconds) and
`<name>.item` (item features), applying a named preprocessing protocol (sessions.py). One module
per dataset states its raw format and rules; docs/sessions-data.md gathers them.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Dict, Tuple, Union

from gru4recf.errors import ConfigError

from .sessions import PROTOCOLS

DATASETS: Dict[str, str] = {  # name -> one line for `gru4recf convert --help`
    "yoochoose": "YOOCHOOSE clicks, RecSys Challenge 2015 (yoochoose-clicks.dat [+ yoochoose-test.dat])",
    "diginetica": "DIGINETICA, CIKM Cup 2016 (train-item-views.csv, products.csv, product-categories.csv)",
    "retailrocket": "RetailRocket (events.csv, item_properties_part1.csv, item_properties_part2.csv)",
    "rees46": "REES46 multi-category store (2019-Oct.csv, 2019-Nov.csv, ...)",
}


def raw_files(name: str) -> Tuple[str, ...]:
    """The raw file names the converter for `name` reads."""
    return import_module(f"{__name__}.{_checked(name)}").RAW_FILES


def convert(name: str, raw: Union[str, Path], data_path: Union[str, Path], protocol: str = "hidasi2023",
            show_progress: bool = False) -> Path:
    """Converts dataset `name` from the raw files in folder `raw`; returns `<data_path>/<name>`.

    Raises ConfigError for an unknown dataset or protocol, DatasetError for a missing raw file and
    DataFormatError (file, line, column) for a malformed one; nothing is left half-written.
    """
    module = import_module(f"{__name__}.{_checked(name)}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return module.convert(Path(raw).expanduser(), Path(data_path).expanduser(), PROTOCOLS[protocol], show_progress)


def _checked(name: str) -> str:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r} to convert; expected one of {', '.join(DATASETS)}")
    return name
