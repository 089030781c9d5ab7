from __future__ import annotations

import importlib

from trainmedic.detect.registry import DETECTORS


def test_every_launcher_detector_is_registered_and_has_a_test() -> None:
    for name in ("hang", "crash", "straggler", "nan"):
        importlib.import_module(f"trainmedic.detect.{name}")
        cls = DETECTORS.get(name)
        assert cls().name == name
