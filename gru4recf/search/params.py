"""The hyper-parameter file (`hyper.test`): one searched parameter a line.

    learning_rate choice [0.01, 0.005, 0.001]
    dropout_prob  uniform 0.1,0.5
    hidden_size   quniform 64,256,64        # integers stay integers
    weight_decay  loguniform -13.8,-4.6     # natural-log bounds, as in RecBole and hyperopt

Blank lines and `#` comments are allowed. Values are read with `ast.literal_eval`, never run as
code; every mistake is a ConfigError naming the file and the 1-based line.
"""
import ast
import difflib
import io
import json
import math
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Tuple

from ..errors import ConfigError

KINDS = ("choice", "uniform", "quniform", "loguniform")
_ARITY = {"uniform": 2, "quniform": 3, "loguniform": 2}
_FORMS = {"choice": "[v1, v2, ...]", "uniform": "low,high", "quniform": "low,high,q",
          "loguniform": "low,high (natural logs)"}


@dataclass(frozen=True)
class Param:
    """One searched parameter: `values` holds the choices (choice) or the numeric arguments."""

    name: str
    kind: str
    values: Tuple[Any, ...]
    line: int
    source: str

    @property
    def where(self) -> str:
        return f"{self.source}, line {self.line}"

    @property
    def integral(self) -> bool:
        """quniform with integral bounds and step: its samples are ints."""
        return self.kind == "quniform" and all(float(v).is_integer() for v in self.values)

    def spec(self) -> list:
        """A JSON-able description (used to recognise the same search when resuming)."""
        return [self.name, self.kind, list(self.values)]


def read_params(path: str) -> List[Param]:
    """Reads and checks a parameter file; errors name the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read params file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"params file {path} is not valid UTF-8 (byte {error.start})") from None
    return parse_params(text, str(path))


def parse_params(text: str, source: str = "<params>") -> List[Param]:
    """Parses the text of a parameter file into `Param`s (see the module docstring for the format)."""
    from ..experiment import schema

    known = schema().known_keys()
    params: List[Param] = []
    seen = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        where = f"{source}, line {number}"
        parts = line.split(None, 2)
        if len(parts) < 3:
            raise ConfigError(f"{where}: expected 'name type values' (e.g. 'learning_rate choice "
                              f"[0.01, 0.001]'), found {raw.strip()!r}")
        name, kind, rest = parts
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else "; see the configuration reference"
            raise ConfigError(f"{where}: unknown config key '{name}'{hint}")
        if name in seen:
            raise ConfigError(f"{where}: parameter '{name}' is already searched on line {seen[name]}")
        if kind not in KINDS:
            raise ConfigError(f"{where}: unknown type {kind!r} for '{name}'; expected one of {', '.join(KINDS)}")
        try:
            value = ast.literal_eval(rest)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise ConfigError(f"{where}: cannot read {rest!r} as {_FORMS[kind]} for {kind} "
                              "(values are Python literals: quote strings)") from None
        values = _choices(value, where) if kind == "choice" else _bounds(kind, value, rest, where)
        seen[name] = number
        params.append(Param(name, kind, values, number, source))
    if not params:
        raise ConfigError(f"{source} defines no parameter; add lines such as 'learning_rate choice [0.01, 0.001]'")
    return params


def _strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a '#' inside a quoted string is kept)."""
    if "#" not in line:
        return line
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return line[:token.start[1]]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return line if not line.lstrip().startswith("#") else ""


def _plain(value: Any) -> Any:
    """Tuples become lists, so that values survive JSON and YAML unchanged."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _choices(value: Any, where: str) -> tuple:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where}: choice needs a non-empty list such as [1, 2], found {value!r}")
    values = [_plain(v) for v in value]
    for v in values:
        try:
            same = json.loads(json.dumps(v)) == v
        except (TypeError, ValueError):
            same = False
        if not same or (isinstance(v, float) and not math.isfinite(v)):
            raise ConfigError(f"{where}: choice value {v!r} cannot be stored in the results; use numbers, "
                              "strings, booleans, None, lists or dicts with string keys")
    for i, v in enumerate(values):
        if any(_same(v, w) for w in values[:i]):
            raise ConfigError(f"{where}: choice value {v!r} is listed twice")
    return tuple(values)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _bounds(kind: str, value: Any, rest: str, where: str) -> tuple:
    values = value if isinstance(value, tuple) else (value,)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    if len(values) != _ARITY[kind] or not numeric:
        raise ConfigError(f"{where}: {kind} needs {_FORMS[kind]} as finite numbers, found {rest!r}")
    if values[0] >= values[1]:
        raise ConfigError(f"{where}: {kind} needs low < high, found low={values[0]!r}, high={values[1]!r}")
    if kind == "quniform" and values[2] <= 0:
        raise ConfigError(f"{where}: quniform needs a step q > 0, found q={values[2]!r}")
    return tuple(values)
