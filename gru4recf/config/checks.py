"""Validators for configuration values.

Each check takes the key and the raw value and returns the normalised value, or raises
ConfigError naming the key, the value found and what is allowed. They are small and composable so
that every setting states its contract in one line; `allowed(check)` is that contract in words, for
the generated reference tables.
"""
import ast
import math
from typing import Any, Callable, Iterable, Optional

from ..errors import ConfigError

Check = Callable[[str, Any], Any]


def described(check: Check, words: str) -> Check:
    """Attaches the words that the reference tables print for what `check` accepts."""
    check.allowed = words
    return check


def allowed(check: Check) -> str:
    """What `check` accepts, in words ('' when it does not say)."""
    return getattr(check, "allowed", "")


def _fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"config key '{key}' has value {value!r}; expected {expected}")


def _literal(value: Any) -> Any:
    """Turns a string such as '1e-3' or '[1, 2]' into its Python value when it is one."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return value


def integer(minimum: Optional[int] = None) -> Check:
    def check(key: str, value: Any) -> int:
        value = _literal(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, value, "an integer" + (f" >= {minimum}" if minimum is not None else ""))
        if minimum is not None and value < minimum:
            raise _fail(key, value, f"an integer >= {minimum}")
        return value
    return described(check, "integer" + (f" >= {minimum}" if minimum is not None else ""))


def number(minimum: Optional[float] = None, maximum: Optional[float] = None,
           min_open: bool = False, max_open: bool = False) -> Check:
    lo = "" if minimum is None else ("(" if min_open else "[") + f"{minimum}"
    hi = "" if maximum is None else f"{maximum}" + (")" if max_open else "]")
    expected = "a number" + (f" in {lo or '(-inf'}, {hi or 'inf)'}" if lo or hi else "")

    def check(key: str, value: Any) -> float:
        value = _literal(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _fail(key, value, expected)
        too_low = minimum is not None and (value <= minimum if min_open else value < minimum)
        too_high = maximum is not None and (value >= maximum if max_open else value > maximum)
        if too_low or too_high:
            raise _fail(key, value, expected)
        return float(value)
    return described(check, expected[2:])


def boolean(key: str, value: Any) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise _fail(key, value, "True or False")
    return value


boolean.allowed = "True, False"


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(key, value, "a non-empty string")
    return value


text.allowed = "non-empty string"


def one_of(choices: Iterable[str], case_insensitive: bool = True) -> Check:
    choices = tuple(choices)

    def check(key: str, value: Any) -> str:
        if isinstance(value, str):
            for choice in choices:
                if value == choice or (case_insensitive and value.lower() == choice.lower()):
                    return choice
        raise _fail(key, value, "one of " + ", ".join(repr(c) for c in choices))
    return described(check, ", ".join(choices))


def optional(inner: Check) -> Check:
    def check(key: str, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip() in ("None", "~", "null")):
            return None
        return inner(key, value)
    return described(check, "None or " + allowed(inner) if allowed(inner) else "")


def string_list(allow_empty: bool = False) -> Check:
    def check(key: str, value: Any) -> list:
        value = _literal(value)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise _fail(key, value, "a list of names, e.g. ['class']")
        if not value and not allow_empty:
            raise _fail(key, value, "a non-empty list of names, e.g. ['class']")
        return list(value)
    return described(check, "list of names")


def mapping(key: str, value: Any) -> dict:
    value = _literal(value)
    if not isinstance(value, dict):
        raise _fail(key, value, "a mapping, e.g. {'name': value}")
    return dict(value)


def single_character(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1:
        raise _fail(key, value, "exactly one character, e.g. '\\t'")
    return value


single_character.allowed = "one character"


def device(key: str, value: Any) -> str:
    if isinstance(value, str) and (value in ("auto", "cpu", "cuda", "mps") or value.startswith("cuda:")):
        return value
    raise _fail(key, value, "'auto', 'cpu', 'cuda' or 'cuda:N'")


device.allowed = "auto, cpu, cuda, cuda:N"


Interval = tuple  # (low, high, low_closed, high_closed)


def parse_interval(text_value: str) -> list:
    """Parses RecBole's interval syntax, e.g. '[5,inf)' or '[1,3];[7,9]', into a list of Intervals.

    Raises ValueError on malformed text; callers turn that into a ConfigError naming the key.
    """
    intervals = []
    for part in str(text_value).split(";"):
        part = part.strip()
        if len(part) < 5 or part[0] not in "[(" or part[-1] not in ")]" or "," not in part:
            raise ValueError(part)
        low_text, high_text = part[1:-1].split(",", 1)
        low, high = float(low_text), float(high_text)
        if math.isnan(low) or math.isnan(high) or low > high:
            raise ValueError(part)
        intervals.append((low, high, part[0] == "[", part[-1] == "]"))
    return intervals


def interval(key: str, value: Any) -> str:
    try:
        parse_interval(value)
    except (ValueError, TypeError):
        raise _fail(key, value, "an interval such as '[5,inf)' or '(0,10]' (several joined by ';')")
    return str(value)


interval.allowed = "interval, e.g. '[5,inf)'"
