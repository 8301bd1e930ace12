"""A differential-privacy target as the command line and the config write it: `--privacy epsilon=3,delta=1e-5`.

It sits in the base layer because the config validates it; training/privacy.py (DP-SGD through Opacus) spends it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lamina.errors import LaminaError

PRIVACY_FORMAT = "epsilon=3,delta=1e-5"


@dataclass(frozen=True)
class Budget:
    """A privacy target: ε (> 0, the privacy loss bound) and δ (in (0, 1), the probability it may fail)."""

    epsilon: float
    delta: float


def parse_privacy(text: str) -> Budget:
    """'epsilon=3,delta=1e-5' → Budget; `eps` and `ε` are accepted for epsilon. Raises LaminaError naming the
    part that is wrong and the expected form."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in str(text).split(",")):
        match = re.fullmatch(r"(epsilon|eps|ε|delta|δ)\s*=\s*(\S+)", part, flags=re.IGNORECASE)
        if not match:
            raise LaminaError(f"--privacy {text!r}: cannot read {part!r}. Write it like {PRIVACY_FORMAT}.")
        name = "epsilon" if match[1].lower() in ("epsilon", "eps", "ε") else "delta"
        try:
            value = float(match[2])
        except ValueError:
            raise LaminaError(f"--privacy {text!r}: {name} {match[2]!r} is not a number. Write it like "
                              f"{PRIVACY_FORMAT}.") from None
        if name in values:
            raise LaminaError(f"--privacy {text!r} gives {name} twice. Write it like {PRIVACY_FORMAT}.")
        values[name] = value
    missing = [name for name in ("epsilon", "delta") if name not in values]
    if missing:
        raise LaminaError(f"--privacy {text!r} lacks {' and '.join(missing)}. Write it like {PRIVACY_FORMAT}.")
    if not (math.isfinite(values["epsilon"]) and values["epsilon"] > 0):
        raise LaminaError(f"--privacy {text!r}: epsilon must be a number above 0 (smaller is more private; "
                          "1 to 10 is usual).")
    if not 0 < values["delta"] < 1:
        raise LaminaError(f"--privacy {text!r}: delta must lie between 0 and 1, well below 1 / (training rows), "
                          "e.g. 1e-5.")
    return Budget(values["epsilon"], values["delta"])
