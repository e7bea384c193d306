"""Training and evaluation: trainer, metrics, evaluator, optimisers, checkpoints."""
