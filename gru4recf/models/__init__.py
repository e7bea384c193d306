"""Sequential recommendation models and their registry."""
