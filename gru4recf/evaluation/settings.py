"""The evaluation keys of a configuration: how examples are split and which metrics are reported."""
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List

from ..config import checks as c
from ..config.settings import Settings, setting
from ..errors import ConfigError
from .metrics import METRICS, RANK_TIES


def _topk(key: str, value: Any) -> list:
    value = c._literal(value)
    values = value if isinstance(value, (list, tuple)) else [value]
    return sorted({c.integer(1)(key, v) for v in values}) if values else c.integer(1)(key, None)


def _metrics(key: str, value: Any) -> list:
    names = c.string_list()(key, value)
    return [c.one_of(METRICS)(key, name) for name in names]


def _eval_args(key: str, value: Any) -> dict:
    given = c.mapping(key, value)
    unknown = set(given) - set(EVAL_ARGS)
    if unknown:
        raise ConfigError(f"config key '{key}' has unknown entries {sorted(unknown)}; "
                          f"allowed: {', '.join(EVAL_ARGS)}")
    merged = dict(EVAL_ARGS)
    merged.update({k: v for k, v in given.items() if v is not None})
    merged["split"] = _split(key, merged["split"])
    merged["order"] = c.one_of(["TO"], False)(f"{key}.order", merged["order"])
    merged["mode"] = c.one_of(["full"])(f"{key}.mode", merged["mode"])
    merged["group_by"] = c.one_of(["user"])(f"{key}.group_by", merged["group_by"])
    return merged


TIME_WINDOWS = (("valid_days", "test_days"), ("valid_after", "test_after"), ("valid_fraction", "test_fraction"))
SPLITS_TEXT = ("{'LS': 'valid_and_test'}, {'RS': [0.8, 0.1, 0.1]} or {'TS': {'valid_days': 1, 'test_days': 1}} "
               "(or valid_after/test_after timestamps, or valid_fraction/test_fraction of the time span)")


def _time_windows(key: str, value: Any) -> dict:
    """The 'TS' split: one pair of window keys, validation before test."""
    value = c.mapping(key, value)
    pair = next((pair for pair in TIME_WINDOWS if set(value) == set(pair)), None)
    if pair is None:
        pairs = ", ".join(f"{{{a!r}, {b!r}}}" for a, b in TIME_WINDOWS)
        raise ConfigError(f"config key '{key}' has value {value!r}; expected one pair of {pairs}, "
                          "e.g. {'valid_days': 1, 'test_days': 1}")
    if pair[0] == "valid_after":
        windows = {name: c.number()(f"{key}.{name}", value[name]) for name in pair}
        if windows["valid_after"] > windows["test_after"]:
            raise ConfigError(f"config key '{key}': valid_after {windows['valid_after']} is later than test_after "
                              f"{windows['test_after']}; the validation window comes before the test window")
        return windows
    windows = {name: c.number(0.0, min_open=True)(f"{key}.{name}", value[name]) for name in pair}
    if pair[0] == "valid_fraction" and sum(windows.values()) >= 1:
        raise ConfigError(f"config key '{key}': valid_fraction + test_fraction is {sum(windows.values())}; "
                          "it must stay below 1 to leave a training period")
    return windows


def _split(key: str, value: Any) -> dict:
    value = c.mapping(f"{key}.split", value)
    if list(value) == ["TS"]:
        return {"TS": _time_windows(f"{key}.split.TS", value["TS"])}
    if list(value) == ["LS"]:
        return {"LS": c.one_of(["valid_and_test"], False)(f"{key}.split.LS", value["LS"])}
    if list(value) == ["RS"]:
        ratios = value["RS"]
        ok = isinstance(ratios, (list, tuple)) and len(ratios) == 3 and all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and r >= 0 for r in ratios)
        if not ok or sum(ratios) <= 0:
            raise ConfigError(f"config key '{key}.split.RS' has value {ratios!r}; expected three "
                              "non-negative ratios for train, valid and test, e.g. [0.8, 0.1, 0.1]")
        return {"RS": [float(r) for r in ratios]}
    raise ConfigError(f"config key '{key}.split' has value {value!r}; expected {SPLITS_TEXT}")


EVAL_ARGS = {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"}
_topk.allowed = "integers >= 1"
_metrics.allowed = ", ".join(METRICS)
_eval_args.allowed = "split LS, RS or TS, order TO, mode full"


@dataclass(frozen=True)
class EvaluationSettings(Settings):
    """How examples are split and scored (RecBole's sequential evaluation: full ranking)."""

    title = "Evaluation"
    eval_args: dict = setting(
        dict(EVAL_ARGS), _eval_args,
        "Split: {'LS': 'valid_and_test'} (leave-one-out), {'RS': [0.8,0.1,0.1]} or a time split {'TS': "
        "{'valid_days': 1, 'test_days': 1}}; order TO, mode full.")
    eval_positions: str = setting(
        "all", c.one_of(["all", "last"]),
        "Which targets of a valid/test sequence are predicted: all (next click at every position) or the last only "
        "(leave-one-out has one either way).")
    metrics: list = setting(["Recall", "MRR", "NDCG", "Hit", "Precision"], _metrics,
                            "Metrics: " + ", ".join(METRICS) + ".")
    topk: list = setting([10], _topk, "Cut-offs k for every metric.")
    rank_ties: str = setting(
        "conservative", c.one_of(RANK_TIES),
        "A target's rank among items of equal score: conservative (behind all of them), standard (ahead of all) "
        "or median (in the middle), as the official GRU4Rec evaluation.")
    valid_metric: str = setting("MRR@10", c.text, "Metric@k used for early stopping and model selection.")
    eval_batch_size: int = setting(4096, c.integer(1), "Examples (users under leave-one-out) scored per evaluation "
                                   "batch.")
    metric_decimal_place: int = setting(4, c.integer(0), "Decimal places of reported metrics.")

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """`valid_metric` must be one of the computed metrics; it is normalised to 'Name@k'."""
        text = values["valid_metric"]
        name, _, k = text.partition("@")
        metric = next((m for m in values["metrics"] if m.lower() == name.lower()), None)
        if metric is None or not k.isdigit() or int(k) not in values["topk"]:
            allowed = [f"{m}@{k}" for m in values["metrics"] for k in values["topk"]]
            raise ConfigError(f"config key 'valid_metric' has value {text!r}; expected one of the "
                              f"computed metrics: {', '.join(allowed)}")
        values["valid_metric"] = f"{metric}@{int(k)}"
        return []
