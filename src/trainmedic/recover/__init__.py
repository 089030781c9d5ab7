"""The recovery ladder and its backends: local processes, Slurm, Kubernetes."""
