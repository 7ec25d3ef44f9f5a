"""Thin entry points, one module per DVC stage: `python -m stages.<name>`."""

# First thing a stage process does, before its imports take seconds: a Ctrl-C or SIGTERM
# from here on ends it with one line, and it dies with the `dvc repro` that started it.
from reasonmed.core.stage import guard_process

guard_process()
