"""Merges configuration layers, parses values safely and validates them against the option table.

Layers, lowest to highest: package defaults, model defaults, dataset defaults, YAML files (in
order), the config dict, then command-line `--key=value` pairs. Nothing is evaluated as code: YAML
is read with `safe_load` and command-line values with `ast.literal_eval` (falling back to text).
"""
import ast
import difflib
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

from ..errors import ConfigError
from .checks import one_of
from .options import options
from .config import Config


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads '1e-3' as a float (YAML 1.1 demands a dot)."""


_FLOAT = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def read_yaml(path: Path, source: Optional[str] = None) -> dict:
    """Reads one YAML mapping of config keys; errors name the file."""
    source = source or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {source}: {error.strerror or error}") from None
    try:
        loader = _Loader(text)  # a SafeLoader: tags that would build Python objects are refused
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {source} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {source} must hold a mapping of keys to values, found {type(data).__name__}")
    return data


def parse_cli_value(text: str) -> Any:
    """Parses a command-line value as a Python literal, or keeps it as text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_cli_args(args: Iterable[str]) -> dict:
    """Turns ['--key=value', ...] into {key: parsed value}; errors name the argument."""
    parsed = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ConfigError(f"command-line argument {arg!r} is not of the form --key=value")
        key, value = arg[2:].split("=", 1)
        parsed[key] = parse_cli_value(value)
    return parsed


def _packaged_defaults(kind: str, name: str) -> dict:
    resource = resources.files("gru4recf.config").joinpath(kind, f"{name}.yaml")
    if not resource.is_file():
        return {}
    return read_yaml(Path(str(resource)), f"gru4recf/config/{kind}/{name}.yaml")


def _check_known(layer: Mapping, source: str, known: Mapping) -> None:
    for key in layer:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else "; see the README's configuration table"
            raise ConfigError(f"unknown config key '{key}' (from {source}){hint}")


def load_config(model: Optional[str] = None, dataset: Optional[str] = None,
                config_file_list: Optional[Sequence[str]] = None,
                config_dict: Optional[Mapping] = None,
                cli_args: Optional[Mapping] = None) -> Config:
    """Builds the validated configuration of one run from all layers."""
    known = options()
    values = {name: option.default for name, option in known.items()}
    sources = {name: "default" for name in known}
    user_layers = [(read_yaml(Path(p)), str(p)) for p in (config_file_list or [])]
    user_layers += [(dict(config_dict or {}), "config_dict"), (dict(cli_args or {}), "command line")]
    for layer, source in user_layers:
        _check_known(layer, source, known)
    model = model or _last(user_layers, "model") or values["model"]
    dataset = dataset or _last(user_layers, "dataset") or values["dataset"]
    layers = [(_packaged_defaults("models", model), f"{model} defaults"),
              (_packaged_defaults("datasets", dataset), f"{dataset} defaults")] + user_layers
    layers.append(({"model": model, "dataset": dataset}, "arguments"))
    for layer, source in layers:
        _check_known(layer, source, known)
        for key, value in layer.items():
            values[key], sources[key] = value, source
    for name, option in known.items():
        values[name] = option.check(name, values[name])
    return _cross_check(values, sources)


def _last(layers: list, key: str) -> Optional[str]:
    found = [layer[key] for layer, _ in layers if layer.get(key) is not None]
    return found[-1] if found else None


def _cross_check(values: dict, sources: dict) -> Config:
    from ..models.registry import model_names
    from ..training.optim import SPARSE_LEARNERS

    values["model"] = one_of(model_names(), case_insensitive=False)("model", values["model"])
    values["valid_metric"] = _valid_metric(values)
    warnings = []
    if values["loss_type"] == "CE" and values["train_neg_sample_args"] is not None:
        if _by_hand(values, sources, "train_neg_sample_args"):
            warnings.append("loss_type 'CE' scores every item, so train_neg_sample_args "
                            f"{values['train_neg_sample_args']} is ignored (RecBole would stop here)")
        values["train_neg_sample_args"] = None
    warnings += _check_architecture(values, sources)
    if values["learner"] in SPARSE_LEARNERS and values["clip_grad_norm"] is not None:
        raise ConfigError(f"clip_grad_norm cannot be combined with learner '{values['learner']}' (the item "
                          "table's gradients are sparse); set clip_grad_norm to None or choose learner 'adam'")
    if values["loss_type"] == "BPR" and values["sampled_softmax"] is not None:
        raise ConfigError("sampled_softmax applies to loss_type 'CE'; BPR uses train_neg_sample_args")
    if values["loss_type"] == "BPR" and values["train_neg_sample_args"] is None:
        raise ConfigError("loss_type 'BPR' needs negatives: set train_neg_sample_args, e.g. "
                          "{'distribution': 'uniform', 'sample_num': 1}")
    return Config(values, sources, warnings)


def _by_hand(values: dict, sources: dict, key: str) -> bool:
    """Whether the user set `key` (rather than the package or model defaults)."""
    return sources[key] not in ("default", f"{values['model']} defaults")


def _check_architecture(values: dict, sources: dict) -> list:
    """GRU4RecF's architecture and training strategy must fit together; returns warnings for
    settings that the chosen model or architecture ignores."""
    gru4recf = values["model"] == "GRU4RecF"
    parallel = gru4recf and values["architecture"] in ("parallel", "weighted")
    if values["training_strategy"] != "simultaneous" and not parallel:
        design = f"architecture '{values['architecture']}'" if gru4recf else f"model '{values['model']}'"
        raise ConfigError(f"training_strategy '{values['training_strategy']}' trains parallel subnets in turn, "
                          f"but {design} has a single subnet; use model GRU4RecF with architecture "
                          "'parallel' or 'weighted', or training_strategy 'simultaneous'")
    warnings = []
    if not gru4recf and _by_hand(values, sources, "architecture"):
        warnings.append(f"architecture applies to GRU4RecF; model '{values['model']}' ignores it")
    weighted = gru4recf and values["architecture"] == "weighted"
    for key in ("subnet_weights", "learn_subnet_weights"):
        if not weighted and _by_hand(values, sources, key):
            warnings.append(f"{key} applies to GRU4RecF's architecture 'weighted' only; it is ignored here")
    return warnings


def _valid_metric(values: dict) -> str:
    text = values["valid_metric"]
    name, _, k = text.partition("@")
    metric = next((m for m in values["metrics"] if m.lower() == name.lower()), None)
    if metric is None or not k.isdigit() or int(k) not in values["topk"]:
        allowed = [f"{m}@{k}" for m in values["metrics"] for k in values["topk"]]
        raise ConfigError(f"config key 'valid_metric' has value {text!r}; expected one of the "
                          f"computed metrics: {', '.join(allowed)}")
    return f"{metric}@{int(k)}"
