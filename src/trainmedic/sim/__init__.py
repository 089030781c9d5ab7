"""Cluster simulator: synthetic jobs, logs and telemetry at 18,432+ cards with ground truth."""
