"""Where incidents go: the ONE function every launcher incident passes through.

Today it writes `<checkpoint-dir>/incidents/<id>.json`; the fleet store hooks in here later.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trainmedic.model import Incident


def record_incident(incident: Incident, directory: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write (or rewrite, as the timeline grows) one incident as JSON; returns the file path.

    Args:
        incident: the incident so far.
        directory: the incidents directory (`<checkpoint-dir>/incidents`).
        extra: launcher details that the Incident value has no field for (steps lost, attempt, ...).
    """
    directory.mkdir(parents=True, exist_ok=True)
    body = incident.to_dict()
    if extra:
        body["launcher"] = extra
    path = directory / f"{incident.id}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=2, default=str))
    os.replace(tmp, path)
    return path
