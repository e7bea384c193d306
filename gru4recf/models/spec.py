"""What a model file declares beside its `nn.Module`: its settings, its capabilities and how it is built.

The registry, the configuration check, the reference tables and the contract tests read these
declarations; nothing else in the package names a model.
"""
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from torch import nn

from ..config.settings import Settings
from ..data.features import FeatureField
from ..errors import ConfigError

TRAIN_MODES = ("augment", "sequence", "session_parallel")


@dataclass(frozen=True)
class Catalogue:
    """What building a model needs to know of the data: the item ids 0..n_items-1 (0 = padding),
    the selected item feature tables, the user ids 0..n_users-1 (0 = padding), and the longest
    history it will read (MAX_ITEM_LIST_LENGTH: the size of a position table)."""

    n_items: int
    item_features: Sequence[FeatureField] = ()
    n_users: int = 0
    max_history: int = 50


class ModelSettings(Settings):
    """Base of a model's settings class; what the model needs follows from its keys.
    `subnet_hint` ends the error for a training strategy that needs more subnets (which settings
    would give them)."""

    subnet_hint: ClassVar[str] = ""

    def item_features(self) -> List[str]:
        """The item feature columns (or `item_vector_files` names) to load: none by default."""
        return []

    def subnets(self) -> Tuple[str, ...]:
        """The parallel subnets that training strategies train in turn: none by default."""
        return ()


@dataclass(frozen=True)
class ModelSpec:
    """A model of the registry.

    `settings`: its ModelSettings dataclass (RecBole's key names and defaults where RecBole has the
    model); `module`: its class, with a classmethod `build(settings, catalogue)`; `fitted`: fitted
    on the training examples (`fit`) instead of trained by gradients; `train_modes`: the training
    modes it supports (none when fitted); `fastest_mode`: the one whose epoch was measured
    fastest, where that is not 'sequence' (benchmarks train it in that mode); `needs_users`: its
    batches must carry user ids;
    `summary`: one line for the docs (the paper); `defaults`: the model's own defaults for global
    keys (its training recipe, as RecBole's model YAML files may hold any key), a layer above the
    package defaults and below the dataset's and the user's."""

    name: str
    settings: type
    module: type
    summary: str
    fitted: bool = False
    train_modes: Tuple[str, ...] = ("augment",)
    fastest_mode: Optional[str] = None
    needs_users: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.settings, type) and issubclass(self.settings, ModelSettings)):
            raise TypeError(f"model {self.name}: settings must be a ModelSettings dataclass")
        if not (isinstance(self.module, type) and issubclass(self.module, nn.Module)):
            raise TypeError(f"model {self.name}: module must be an nn.Module class")
        unknown = set(self.train_modes) - set(TRAIN_MODES)
        if unknown or (self.fitted and self.train_modes):
            raise TypeError(f"model {self.name}: train_modes {self.train_modes} must be a subset of {TRAIN_MODES} "
                            "(empty for a fitted model)")
        if self.fastest_mode is not None and self.fastest_mode not in self.train_modes:
            raise TypeError(f"model {self.name}: fastest_mode {self.fastest_mode!r} is not one of its train_modes "
                            f"{self.train_modes}")
        if self.needs_users and "session_parallel" in self.train_modes:
            raise TypeError(f"model {self.name}: train_mode 'session_parallel' batches carry no user ids, which it "
                            "needs")

    def build(self, settings: ModelSettings, catalogue: Catalogue) -> nn.Module:
        """The model for `settings` over `catalogue`, freshly initialised (or unfitted)."""
        return self.module.build(settings, catalogue)

    def parse(self, values: Dict[str, Any]) -> ModelSettings:
        """Settings from raw values keyed by config key (absent keys take their defaults)."""
        return self.settings.parse(values)

    def check_values(self, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """The model against the run's training keys: its training mode and strategy must be ones it
        supports (the settings class's own checks run beside this one, in the loader)."""
        warnings = []
        if self.fitted:
            set_training = sorted(set_by_user & {"train_mode", "training_strategy", "learner", "epochs"})
            if set_training:
                warnings.append(f"model '{self.name}' is fitted, not trained by gradients: "
                                f"{', '.join(set_training)} {'is' if len(set_training) == 1 else 'are'} ignored")
        else:
            mode = values.get("train_mode")
            if mode not in self.train_modes:
                raise ConfigError(f"model '{self.name}' does not support train_mode '{mode}'; it supports: "
                                  + ", ".join(repr(m) for m in self.train_modes))
            strategy = values.get("training_strategy", "simultaneous")
            subnets = self.settings.from_values(values).subnets()
            if strategy != "simultaneous" and len(subnets) < 2:
                raise ConfigError(
                    f"training_strategy '{strategy}' trains parallel subnets in turn, but model '{self.name}' "
                    "has no parallel subnets with these settings"
                    f"{self.settings.subnet_hint}; "
                    "use training_strategy 'simultaneous'")
        return warnings
