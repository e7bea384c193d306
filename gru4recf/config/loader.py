"""Merges configuration layers, parses values safely and validates them against a Schema.

Layers, lowest to highest: package defaults, model defaults, dataset defaults, YAML files (in
order), the config dict, then command-line `--key=value` pairs. Nothing is evaluated as code: YAML
is read with `safe_load` and command-line values with `ast.literal_eval` (falling back to text).

The schema says which keys exist: the global settings classes (one per concern) and each model's
settings class. This layer knows no model and no training code: the composition root
(`gru4recf.experiment`) hands it the schema.
"""
import ast
import difflib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from ..errors import ConfigError
from .checks import one_of
from .config import Config
from .settings import KeyInfo

# (model name, validated values, keys set by the user) -> warnings; may normalise `values` in place
CrossCheck = Callable[[str, Dict[str, Any], FrozenSet[str]], List[str]]


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
        raise ConfigError(f"config file {source} is not valid YAML: {_yaml_problem(error)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {source} must hold a mapping of keys to values, found {type(data).__name__}")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line: where in the file (1-based line and column) and what is wrong."""
    mark = getattr(error, "problem_mark", None)
    problem = " ".join(str(getattr(error, "problem", None) or error).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def parse_cli_value(text: str) -> Any:
    """Parses a command-line value as a Python literal, or keeps it as text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_cli_args(args: Iterable[str]) -> dict:
    """Turns ['--key=value', '--key', 'value', ...] into {key: parsed value}; errors name the argument."""
    parsed, args = {}, list(args)
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
        elif arg.startswith("--") and len(arg) > 2 and index + 1 < len(args) and not args[index + 1].startswith("--"):
            key, value = arg[2:], args[index + 1]
            index += 1
        else:
            raise ConfigError(f"command-line argument {arg!r} is not of the form --key=value or --key value")
        parsed[key] = parse_cli_value(value)
        index += 1
    return parsed


@dataclass(frozen=True)
class Schema:
    """What a configuration may hold: the global settings classes (`sections`, one per concern, whose
    keys every run has), each model's settings class by model name, each model's own defaults for
    global keys (`model_defaults`, its recipe), and the checks across keys that need facts of
    several concerns (run after every key is validated)."""

    sections: Tuple[type, ...]
    models: Mapping[str, type]
    checks: Tuple[CrossCheck, ...] = ()
    model_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def global_keys(self) -> Dict[str, KeyInfo]:
        return {key: info for section in self.sections for key, (_, info) in section.keys().items()}

    def model_keys(self) -> Dict[str, List[str]]:
        """{key: the models whose settings have it} for keys that are not global."""
        global_keys = self.global_keys()
        owners: Dict[str, List[str]] = {}
        for name, settings in sorted(self.models.items()):
            for key in settings.keys():
                if key not in global_keys:
                    owners.setdefault(key, []).append(name)
        return owners

    def known_keys(self) -> List[str]:
        return list(self.global_keys()) + list(self.model_keys())

    def defaults(self) -> Dict[str, Any]:
        return {key: value for section in self.sections for key, value in section.defaults().items()}


def _packaged_defaults(kind: str, name: str) -> dict:
    resource = resources.files("gru4recf.config").joinpath(kind, f"{name}.yaml")
    if not resource.is_file():
        return {}
    return read_yaml(Path(str(resource)), f"gru4recf/config/{kind}/{name}.yaml")


def check_known(layer: Mapping, source: str, known: Sequence[str]) -> None:
    """Every key of `layer` must be a key of the schema; a misspelt one gets a did-you-mean."""
    for key in layer:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else \
                "; see docs/configuration.md (and docs/models.md for model keys)"
            raise ConfigError(f"unknown config key '{key}' (from {source}){hint}")


KEY_INDEX = "keys.json"  # built-in models and every key they know, written by `python -m gru4recf.reference`
ENTRY_POINT_GROUP = "gru4recf.models"  # where other packages declare models (see models.registry)


def plugins_installed() -> bool:
    """Whether any installed package declares models (cheap: reads metadata, imports nothing)."""
    from importlib.metadata import entry_points

    return bool(list(entry_points(group=ENTRY_POINT_GROUP)))


def precheck(model: Optional[str], config_file_list: Optional[Sequence[str]], cli_args: Optional[Mapping]) -> None:
    """The checks a command line can make before torch is imported (which takes seconds): the
    config files' YAML, and the key and model names against the key index the package ships,
    with the same messages as `build_config`. Names that a plugin model could define are left to
    `build_config` when plugins are installed."""
    user_layers = [(read_yaml(Path(p)), str(p)) for p in (config_file_list or [])]
    user_layers.append((dict(cli_args or {}), "command line"))
    resource = resources.files("gru4recf.config").joinpath(KEY_INDEX)
    if not resource.is_file() or plugins_installed():
        return
    index = json.loads(resource.read_text(encoding="utf-8"))
    for layer, source in user_layers:
        check_known(layer, source, index["keys"])
    name = model or _last(user_layers, "model")
    if name is not None:
        one_of(index["models"], case_insensitive=False)("model", name)


def build_config(schema: Schema, model: Optional[str] = None, dataset: Optional[str] = None,
                config_file_list: Optional[Sequence[str]] = None, config_dict: Optional[Mapping] = None,
                cli_args: Optional[Mapping] = None) -> Config:
    """Builds the validated configuration of one run from all layers, against `schema`."""
    known = schema.known_keys()
    user_layers = [(read_yaml(Path(p)), str(p)) for p in (config_file_list or [])]
    user_layers += [(dict(config_dict or {}), "config_dict"), (dict(cli_args or {}), "command line")]
    for layer, source in user_layers:
        check_known(layer, source, known)
    defaults = schema.defaults()
    model = model or _last(user_layers, "model") or defaults["model"]
    dataset = dataset or _last(user_layers, "dataset") or defaults["dataset"]
    model = one_of(sorted(schema.models), case_insensitive=False)("model", model)
    model_settings = schema.models[model]
    values = dict(defaults)
    sources = {key: "default" for key in values}
    own_defaults = dict(model_settings.defaults(), **schema.model_defaults.get(model, {}))
    values.update(own_defaults)
    sources.update({key: f"{model} defaults" for key in own_defaults})
    layers = [(_packaged_defaults("datasets", dataset), f"{dataset} defaults")] + user_layers
    layers.append(({"model": model, "dataset": dataset}, "arguments"))
    warnings = []
    others = schema.model_keys()
    for layer, source in layers:
        check_known(layer, source, known)
        for key, value in layer.items():
            if key in values:
                values[key], sources[key] = value, source
            else:
                owners = others[key]
                named = f" {owners[0]}" if len(owners) == 1 else f"s {', '.join(owners[:-1])} and {owners[-1]}"
                warnings.append(f"config key '{key}' (from {source}) is a setting of model{named}; "
                                f"model '{model}' does not use it, so it is ignored")
    for settings in schema.sections:
        values.update(settings.validate(values))
    try:
        values.update(model_settings.validate(values))
    except ConfigError as error:
        raise ConfigError(f"{error} (a setting of model '{model}')") from None
    return _cross_check(schema, model, model_settings, values, sources, warnings)


def _last(layers: list, key: str) -> Optional[str]:
    found = [layer[key] for layer, _ in layers if layer.get(key) is not None]
    return found[-1] if found else None


def _cross_check(schema: Schema, model: str, model_settings: type, values: dict, sources: dict,
                 warnings: list) -> Config:
    set_by_user = frozenset(key for key, source in sources.items() if source not in ("default", f"{model} defaults"))
    for settings in schema.sections + (model_settings,):
        warnings += settings.check_values(values, set_by_user)
    for check in schema.checks:
        warnings += check(model, values, set_by_user)
    sections = {settings: settings.from_values(values) for settings in schema.sections}
    return Config(values, sources, warnings, sections, model_settings.from_values(values))
