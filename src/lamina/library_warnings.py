"""Warnings raised by the libraries lamina uses (torch's FutureWarning and UserWarning lines, the ONNX
exporter's notes...) go to the run folder's warnings.log instead of the terminal, which keeps lamina's own
messages. lamina's own warnings (raised by its package's code, about a line of it) still reach the terminal."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from lamina.run import MODEL, WARNINGS, RunFolder

PACKAGE = Path(__file__).resolve().parent


def _in_package(filename: str | None) -> bool:
    """Whether `filename` is a file of lamina (None, unknown: taken as lamina's)."""
    return filename is None or Path(filename).resolve().is_relative_to(PACKAGE)


def _warning_caller(frame) -> str | None:
    """The file of the code that raised the warning being shown, from the frame of the code that shows it (frames
    of the warnings module skipped), or None where no Python code did. The line a warning names is not enough:
    pandas names its caller's (find_stack_level), so pd.to_datetime's "Could not infer format" named a line of
    lamina and reached the terminal as lamina's own warning."""
    while frame is not None and frame.f_globals.get("__name__") == "warnings":
        frame = frame.f_back
    return None if frame is None else frame.f_code.co_filename


@contextlib.contextmanager
def logged_to_run(folder: Callable[[], str | Path | None]):
    """Inside the block, library warnings are appended to warnings.log in the run folder `folder()` names (a
    run folder or its model/ folder), asked each time since a training creates its folder part-way. Warnings
    raised before that folder is a run are held until it is; with no run at the end they are dropped."""
    held: list[str] = []

    def run() -> RunFolder | None:
        path = folder()
        if path is None:
            return None
        path = Path(path)
        for candidate in (path, path.parent) if path.name == MODEL else (path,):
            if RunFolder(candidate).is_run():
                return RunFolder(candidate)
        return None

    def write_held() -> None:
        target = run()
        if target is not None and held:
            with open(target / WARNINGS, "a", encoding="utf-8") as stream:
                stream.writelines(held)
            held.clear()

    def show(message, category, filename, lineno, file=None, line=None):
        text = warnings.formatwarning(message, category, filename, lineno, line)
        if _in_package(filename) and _in_package(_warning_caller(sys._getframe(1))):
            print(f"warning: {message}", file=sys.stderr)
            return
        held.append(text)
        write_held()

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield
        finally:
            write_held()
