"""Offline incident diagnosis over a job's logs: timeline, culprit vs victims, verdict."""
