"""Thin entry points, one module per DVC stage: `python -m stages.<name>`."""
