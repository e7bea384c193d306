"""Typed settings: one frozen dataclass per concern (runtime, data, training, evaluation) and one per
model, every field a configuration key with its type, default, check and one line of documentation.

The loader validates a configuration against these classes and the reference tables are generated
from them, so a key is described in exactly one place: the field that declares it.
"""
import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, FrozenSet, List, Mapping, Optional, Tuple

from .checks import Check, allowed


@dataclass(frozen=True)
class KeyInfo:
    """What a settings field says about its key: the check of its values, its documentation, its
    name in configuration files (the field name unless RecBole spells it otherwise), and whether
    it changes what a run computes (False for where files go, how fast it runs, how it logs)."""

    key: str
    check: Check
    doc: str
    affects_results: bool = True

    @property
    def allowed(self) -> str:
        return allowed(self.check)


def setting(default: Any, check: Check, doc: str, *, key: str = "", affects_results: bool = True) -> Any:
    """Declares one settings field: `key: type = setting(default, check, doc)`."""
    metadata = {"setting": KeyInfo(key, check, doc, affects_results)}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


class Settings:
    """Base of the settings dataclasses (subclasses are `@dataclass(frozen=True)`; a field declared
    without `setting` is not a configuration key and keeps its default in `from_values`).

    `title` heads the class's table in the reference. `check_values` may add checks across keys
    (also across concerns: it sees every validated key of the run, model keys included)."""

    title: ClassVar[str] = ""

    @classmethod
    def keys(cls) -> Dict[str, Tuple[str, KeyInfo]]:
        """{config key: (field name, KeyInfo)} in declaration order."""
        found = {}
        for item in dataclasses.fields(cls):
            if "setting" not in item.metadata:  # filled by the run, not a configuration key
                continue
            info = item.metadata["setting"]
            key = info.key or item.name
            found[key] = (item.name, dataclasses.replace(info, key=key))
        return found

    @classmethod
    def defaults(cls) -> Dict[str, Any]:
        """{config key: default value} (fresh copies of mutable defaults)."""
        instance_fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, (name, _) in cls.keys().items():
            item = instance_fields[name]
            values[key] = item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default
        return values

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> Dict[str, Any]:
        """Every key of this class checked (absent keys take their defaults): {key: normalised value}."""
        merged = dict(cls.defaults())
        merged.update({key: value for key, value in values.items() if key in merged})
        return {key: info.check(key, merged[key]) for key, (_, info) in cls.keys().items()}

    @classmethod
    def check_values(cls, values: Dict[str, Any], set_by_user: FrozenSet[str]) -> List[str]:
        """Checks across keys on the run's validated `values` (may normalise them in place); raises
        ConfigError, returns warnings for the log. `set_by_user`: keys a user layer set."""
        return []

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "Settings":
        """An instance from already validated `values` keyed by config key."""
        return cls(**{name: values[key] for key, (name, _) in cls.keys().items() if key in values})

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> "Settings":
        """`validate` then `from_values`: an instance from raw values (e.g. a checkpoint's config)."""
        return cls.from_values(cls.validate(values))

    def to_values(self) -> Dict[str, Any]:
        """{config key: value}."""
        return {key: getattr(self, name) for key, (name, _) in self.keys().items()}


def reference_table(settings: type, defaults: Optional[Mapping[str, str]] = None) -> str:
    """The Markdown table of a settings class: key, default, allowed values, meaning. `defaults`
    replaces the printed default of some keys (e.g. one read from the environment)."""
    defaults = defaults or {}
    if not settings.keys():
        return "No keys of its own."
    lines = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    values = settings.defaults()
    for key, (_, info) in settings.keys().items():
        default = defaults.get(key, repr(values[key]))
        lines.append(f"| `{key}` | `{default}` | {info.allowed} | {info.doc} |")
    return "\n".join(lines)
