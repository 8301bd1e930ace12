"""lamina: deep learning from raw data to a trained, evaluated and reported model.

The public names are imported lazily so that `lamina --help` does not pay for torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "fit": ("lamina.api", "fit"),
    "load": ("lamina.api", "load"),
    "resume_run": ("lamina.api", "resume_run"),
    "forecast": ("lamina.api", "forecast"),
    "federate": ("lamina.api", "federate"),
    "tune": ("lamina.api", "tune"),
    "Model": ("lamina.model", "Model"),
    "ForecastModel": ("lamina.model", "Model"),  # one Model class serves every task; the old name still works
    "Task": ("lamina.tasks.base", "Task"),
    "register_task": ("lamina.tasks.base", "register_task"),
    "Trainer": ("lamina.training.trainer", "Trainer"),
    "Config": ("lamina.config", "Config"),
    "LaminaError": ("lamina.errors", "LaminaError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'lamina' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value
