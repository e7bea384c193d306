"""Configuration: option table, layered loading and validation."""
from .config import Config
from .loader import load_config, parse_cli_args

__all__ = ["Config", "load_config", "parse_cli_args"]
