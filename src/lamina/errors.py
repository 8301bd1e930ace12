"""The one exception type for a user's mistake: the CLI prints its message and exits 2."""

from __future__ import annotations

import difflib


class LaminaError(Exception):
    """Bad input or a bad setting. The message names the file, row or column and the fix."""


def closest(name: str, choices, n: int = 3) -> list[str]:
    """The choices that look most like `name` (for 'did you mean' hints)."""
    choices = [str(c) for c in choices]
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    lowered = [c for c in choices if c.lower() == name.lower() and c not in found]
    return lowered + found


def did_you_mean(name: str, choices) -> str:
    near = closest(name, choices)
    return f" Did you mean {', '.join(repr(c) for c in near)}?" if near else ""
