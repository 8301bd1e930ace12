"""lamina: deep learning from raw data to a trained, evaluated and reported model.

The public names are imported lazily so that `lamina --help` does not pay for torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "fit": ("lamina.api", "fit"),
    "load": ("lamina.api", "load"),
    "forecast": ("lamina.forecast.fit", "forecast"),
    "ForecastModel": ("lamina.forecast.model", "ForecastModel"),
    "Model": ("lamina.model", "Model"),
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
