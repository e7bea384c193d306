"""The validated, read-only configuration of one run."""
from typing import Any, Iterator, Mapping, Optional

from ..errors import ConfigError


class Config(Mapping):
    """Read-only mapping of every option to its validated value.

    Read it once, at the edge (quick start, CLI, search): objects below receive plain arguments or
    the typed settings of their concern (`section(TrainingSettings)`, `model_settings`).
    `sources` tells which layer set each key; `warnings` are notes for the run's log.
    """

    def __init__(self, values: dict, sources: dict, warnings: list, sections: Optional[dict] = None,
                 model_settings: Any = None) -> None:
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "sources", dict(sources))
        object.__setattr__(self, "warnings", list(warnings))
        object.__setattr__(self, "_sections", dict(sections or {}))
        object.__setattr__(self, "model_settings", model_settings)

    def section(self, settings_class: type) -> Any:
        """The typed settings of one concern (a global settings class of the schema)."""
        try:
            return self._sections[settings_class]
        except KeyError:
            raise ConfigError(f"this configuration has no section {settings_class.__name__}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise ConfigError(f"the configuration is read-only: pass '{key}' to load_config instead")

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise ConfigError(f"unknown config key '{key}'") from None

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_dict(self) -> dict:
        """A plain copy, e.g. to write as YAML or store in a checkpoint."""
        return dict(self._values)

    def __repr__(self) -> str:
        return "\n".join(f"{key} = {value!r}" for key, value in self._values.items())
