"""Evaluation: full ranking of every item, top-k metrics, and the evaluation keys of a configuration."""
