"""Configuration: settings classes, layered loading against a schema, and validation.

`gru4recf.load_config` (in `gru4recf.experiment`) is the loader with the library's schema.
"""
from .config import Config
from .loader import Schema, build_config, parse_cli_args

__all__ = ["Config", "Schema", "build_config", "parse_cli_args"]
