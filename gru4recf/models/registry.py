"""The model registry: names users put in `model:` and how a model is built from a configuration."""
from typing import Mapping

from ..errors import ConfigError
from .base import SequentialRecommender
from .gru4rec import GRU4Rec
from .gru4recf import GRU4RecF

MODELS = {"GRU4Rec": GRU4Rec, "GRU4RecF": GRU4RecF}


def model_names() -> list:
    return list(MODELS)


def model_class(name: str) -> type:
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}'; available: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, config: Mapping, n_items: int, item_features: list) -> SequentialRecommender:
    """Instantiates `name` with its hyper-parameters read from `config` (this is the edge)."""
    cls = model_class(name)
    kwargs = {key: config[key] for key in cls.config_keys if key in config}  # the rest: constructor defaults
    if cls.uses_features:
        kwargs["item_features"] = item_features
    return cls(n_items=n_items, **kwargs)


def feature_names(name: str, config: Mapping) -> list:
    """Item feature columns the model needs loaded (none for ID-only models)."""
    if not model_class(name).uses_features or config.get("architecture") == "id":
        return []
    return list(config["selected_features"])
