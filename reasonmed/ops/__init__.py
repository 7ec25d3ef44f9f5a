"""How a run executes: the generate fan-out, SLURM resources, the pre-flight check,
estimates, and the wiring of dvc.yaml to the code. May import every other layer."""
