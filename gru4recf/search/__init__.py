"""Hyper-parameter search: `hyper_search` (wrapped by run_hyper.py) over a hyper.test file.

Importing this package is cheap: the search loop (and torch) load on first use.
"""
__all__ = ["hyper_search", "parse_params", "read_params", "SearchResult"]


def __getattr__(name: str):
    if name in ("hyper_search", "SearchResult"):
        from . import runner
        return getattr(runner, name)
    if name in ("parse_params", "read_params"):
        from . import params
        return getattr(params, name)
    raise AttributeError(f"module 'gru4recf.search' has no attribute {name!r}")
