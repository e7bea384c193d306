"""The validated, read-only configuration of one run."""
from typing import Any, Iterator, Mapping

from ..errors import ConfigError


class Config(Mapping):
    """Read-only mapping of every option to its validated value.

    Read it once, at the edge (quick start, CLI, search): objects below receive plain arguments.
    `sources` tells which layer set each key; `warnings` are notes for the run's log.
    """

    def __init__(self, values: dict, sources: dict, warnings: list) -> None:
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "sources", dict(sources))
        object.__setattr__(self, "warnings", list(warnings))

    def __setattr__(self, key: str, value: Any) -> None:
        raise ConfigError(f"the configuration is read-only: pass '{key}' to load_config instead")

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise ConfigError(f"unknown config key '{key}'") from None

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
