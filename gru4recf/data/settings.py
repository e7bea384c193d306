"""The data keys of a configuration: which dataset, how its atomic files are read and filtered."""
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence

from ..config import checks as c
from ..config.settings import Settings, setting
from ..errors import ConfigError

DATA_PATH_ENV = "GRU4RECF_DATA_PATH"
PAD = "[PAD]"  # the token of id 0 (padding) in every vocabulary: users, items, feature tokens


def _load_col(key: str, value: Any) -> Any:
    value = c.optional(c.mapping)(key, value)
    if value is None:
        return None
    for source, columns in value.items():
        if source not in ("inter", "item", "user"):
            raise ConfigError(f"config key '{key}' names source {source!r}; expected inter, item or user")
        value[source] = c.string_list()(f"{key}.{source}", columns)
    return value


def _val_interval(key: str, value: Any) -> Any:
    value = c.optional(c.mapping)(key, value)
    if value is None:
        return None
    return {field: c.interval(f"{key}.{field}", text) for field, text in value.items()}


def _item_vector_files(key: str, value: Any) -> Any:
    value = c.optional(c.mapping)(key, value)
    if value is None:
        return None
    for name, path in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"config key '{key}' has feature name {name!r}; expected non-empty names, "
                              "e.g. {'vec': 'vectors.npy'}")
        if not isinstance(path, str) or not path:
            raise ConfigError(f"config key '{key}.{name}' has value {path!r}; expected the path of a .npy file "
                              "(relative to <data_path>/<dataset>/ unless absolute), e.g. 'vectors.npy'")
    return value


_load_col.allowed = "None or {source: [columns]}"
_val_interval.allowed = "None or {field: interval}"
_item_vector_files.allowed = "None or {name: path}"


@dataclass(frozen=True)
class DataSettings(Settings):
    """How to read and filter one dataset. `selected_features` is not a key of this section: the
    run fills it with the item features its model reads."""

    title = "Data"
    name: str = setting("ml-100k", c.text, "Dataset name: files are read from <data_path>/<dataset>/<dataset>.inter "
                        "etc.", key="dataset")
    data_path: str = setting("dataset/", c.text, f"Folder holding one sub-folder per dataset; default from "
                             f"${DATA_PATH_ENV}, else 'dataset/'.", affects_results=False)
    user_field: str = setting("user_id", c.text, "Column holding the user id.", key="USER_ID_FIELD")
    session_field: Optional[str] = setting(
        None, c.optional(c.text), "Column holding the session id: each session is one sequence (ordered by its start "
        "time) and USER_ID_FIELD is not needed; None = one sequence per user.", key="SESSION_ID_FIELD")
    item_field: str = setting("item_id", c.text, "Column holding the item id.", key="ITEM_ID_FIELD")
    time_field: str = setting("timestamp", c.text, "Column used to order each sequence's interactions (seconds "
                              "for a time split in days).",
                              key="TIME_FIELD")
    field_separator: str = setting("\t", c.single_character, "Separator between the fields of an atomic file.")
    seq_separator: str = setting(" ", c.text, "Separator between the values of a token_seq/float_seq cell.")
    max_history: int = setting(50, c.integer(1), "Histories are truncated to their last N items.",
                               key="MAX_ITEM_LIST_LENGTH")
    load_col: Optional[Mapping[str, Sequence[str]]] = setting(
        None, _load_col, "Columns to load per file, e.g. {'inter': [user_id, item_id, timestamp]}; None = all columns.")
    user_inter_num_interval: Optional[str] = setting(
        None, c.optional(c.interval), "Keep users (sessions, with SESSION_ID_FIELD) whose interaction count lies in "
        "this interval, e.g. '[5,inf)'.")
    item_inter_num_interval: Optional[str] = setting(
        None, c.optional(c.interval), "Keep items whose interaction count lies in this interval, e.g. '[5,inf)'.")
    val_interval: Optional[Mapping[str, str]] = setting(
        None, _val_interval, "Keep interactions whose field values lie in intervals, e.g. {'rating': '[3,inf)'}.")
    rm_dup_inter: Optional[str] = setting(
        None, c.optional(c.one_of(["first", "last"])),
        "Remove repeated (user or session, item) interactions, keeping the 'first' or 'last' one.")
    item_vector_files: Optional[Mapping[str, str]] = setting(
        None, _item_vector_files,
        "Dense item features from files, {name: 'x.npy'}: a [N, d] float array, item tokens in x.tokens beside it.")
    selected_features: Sequence[str] = field(default_factory=list)

    @property
    def sequence_field(self) -> str:
        """The column whose values delimit sequences: the session id when there is one, else the user id."""
        return self.session_field or self.user_field

    @classmethod
    def defaults(cls) -> Dict[str, Any]:
        """The defaults, `data_path` read from the environment now (not when the module was imported)."""
        return dict(super().defaults(), data_path=os.environ.get(DATA_PATH_ENV) or "dataset/")
