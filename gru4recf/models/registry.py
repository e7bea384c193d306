"""The model registry: every ModelSpec that users can name in `model:`.

Built from declarations, never from a list written here: each module of this package that defines
a module-level `MODEL` (a ModelSpec) is a built-in model, and other packages add models through the
`gru4recf.models` entry-point group (an entry point names a ModelSpec, e.g.
`mymodels.sasrec_plus:MODEL`). `register_model` adds one at run time (a notebook, a script).
"""
import importlib
import pkgutil
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Dict, Mapping, Sequence

from torch import nn

from ..config.loader import ENTRY_POINT_GROUP
from ..data.features import FeatureField
from ..errors import ConfigError
from .spec import Catalogue, ModelSpec
_registered: Dict[str, ModelSpec] = {}


def _add(found: Dict[str, ModelSpec], spec: object, source: str, sources: Dict[str, str]) -> None:
    if not isinstance(spec, ModelSpec):
        raise ConfigError(f"{source} does not name a gru4recf ModelSpec (found {type(spec).__name__})")
    if spec.name in found:
        raise ConfigError(f"model name '{spec.name}' is declared twice: by {sources[spec.name]} and by {source}")
    found[spec.name] = spec
    sources[spec.name] = source


@lru_cache(maxsize=1)
def _discovered() -> Dict[str, ModelSpec]:
    found: Dict[str, ModelSpec] = {}
    sources: Dict[str, str] = {}
    package = importlib.import_module(__package__)
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__package__}.{module_info.name}")
        if isinstance(getattr(module, "MODEL", None), ModelSpec):
            _add(found, module.MODEL, f"module {module.__name__}", sources)
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        source = f"entry point '{point.name} = {point.value}' of distribution " \
                 f"{point.dist.name if point.dist is not None else '?'}"
        try:
            spec = point.load()
        except Exception as error:  # a broken plugin is named, not a traceback from deep inside
            raise ConfigError(f"cannot load model plugin {source}: {type(error).__name__}: {error}") from None
        _add(found, spec, source, sources)
    return found


def models() -> Dict[str, ModelSpec]:
    """Every model by name: built-in, from entry points, and registered with `register_model`."""
    return {**_discovered(), **_registered}


def register_model(spec: ModelSpec) -> None:
    """Adds a model for this process (for packages, declare an entry point instead)."""
    if not isinstance(spec, ModelSpec):
        raise ConfigError(f"register_model takes a ModelSpec, found {type(spec).__name__}")
    if spec.name in _discovered():
        raise ConfigError(f"model name '{spec.name}' is already taken by a model of the registry")
    _registered[spec.name] = spec


def refresh() -> None:
    """Reads the entry points again (after installing a plugin in a running process)."""
    _discovered.cache_clear()


def model_spec(name: str) -> ModelSpec:
    """The spec of model `name`; an unknown name is a ConfigError listing the available ones."""
    found = models()
    if name not in found:
        raise ConfigError(f"unknown model '{name}'; available: {', '.join(sorted(found))}")
    return found[name]


def build_model(name: str, values: Mapping, n_items: int, item_features: Sequence[FeatureField] = (),
                n_users: int = 0) -> nn.Module:
    """Model `name` with its settings parsed from `values` (keys of other models are ignored,
    absent ones take the model's defaults), over a catalogue of `n_items` item ids and histories of
    at most `values['MAX_ITEM_LIST_LENGTH']` items (default 50)."""
    spec = model_spec(name)
    return spec.build(spec.parse(dict(values)), Catalogue(n_items, list(item_features), n_users,
                                                          int(values.get("MAX_ITEM_LIST_LENGTH", 50))))
