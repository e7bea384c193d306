"""gru4recf: feature-rich session-based recommendation (GRU4RecF and friends), RecBole-style.

Importing the package is cheap: the entry points are loaded on first use.
"""
__version__ = "0.3.0"
__all__ = ["run_gru4recf", "load_config", "load_model", "hyper_search", "register_model"]


def __getattr__(name: str):
    if name == "run_gru4recf":
        from .quick_start import run_gru4recf
        return run_gru4recf
    if name == "load_model":
        from .recommender import load_model
        return load_model
    if name == "hyper_search":
        from .search import hyper_search
        return hyper_search
    if name == "load_config":
        from .experiment import load_config
        return load_config
    if name == "register_model":
        from .models.registry import register_model
        return register_model
    raise AttributeError(f"module 'gru4recf' has no attribute {name!r}")
