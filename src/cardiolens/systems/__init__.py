"""The published systems, one module (or package) each, composed from the layers above.

Each system module provides ``train(data, out, config)``, ``evaluate(model_dir,
data, out)``, ``predict(model_dir, inputs, out)`` and ``explain(model_dir,
input, out)``; the CLI dispatches to them by system id.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cardiolens.errors import UsageError

#: System id -> module.
SYSTEMS: dict[str, str] = {"ecg2lvm": "cardiolens.systems.ecg2lvm", "cine-seg": "cardiolens.systems.cine_seg", "nicm": "cardiolens.systems.nicm", "echo2cmr": "cardiolens.systems.echo2cmr", "scar-pattern": "cardiolens.systems.scar_pattern", "lge": "cardiolens.systems.lge"}


def system_module(system: str) -> ModuleType:
    if system in SYSTEMS:
        return importlib.import_module(SYSTEMS[system])
    raise UsageError(f"unknown system {system!r}; available: {', '.join(SYSTEMS)}")
