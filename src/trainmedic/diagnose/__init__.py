"""Offline incident diagnosis over a job's logs: culprit card, fault, action, evidence, timeline.

    from trainmedic.diagnose import diagnose
    d = diagnose("job/logs")          # a directory or a .tar/.tar.gz archive
    print(d.verdict.culprit, d.verdict.fault, d.verdict.action, d.to_dict())
"""

from __future__ import annotations

from trainmedic.diagnose.result import Diagnosis, Event
from trainmedic.diagnose.run import DiagnoseError, diagnose

__all__ = ["DiagnoseError", "Diagnosis", "Event", "diagnose"]
