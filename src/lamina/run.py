"""RunFolder: the one owner of a run folder's files. No other module spells a file name of a run.

A run folder holds `config.yaml` (the resolved config), `model/` (model.json + weights.safetensors),
`checkpoints/` (last + best), `cache/` (memory-mapped image caches), `history.csv`, `metrics.json`,
`checks.json`, `sources.json` (the data files' fingerprints), the task's held-out table
(`test_predictions.csv`), and what later commands add:
`audit.json`, `explain.json`, `mistakes.json`, `model_card.md`, `drift.html` + `drift.json`,
`monitor.sqlite` and `report.html`, and `warnings.log` (library warnings kept off the terminal). JSON and CSV
files are written atomically (temporary file + rename). While a training writes a run, it holds `.lock`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pandas as pd

from lamina.errors import LaminaError
from lamina.plain import json_safe

CONFIG = "config.yaml"
MODEL = "model"
CHECKPOINTS = "checkpoints"
CACHE = "cache"
HISTORY = "history.csv"
METRICS = "metrics.json"
CHECKS = "checks.json"
HELD_OUT = "test_predictions.csv"  # the task's table of held-out truth and predictions, for the report
AUDIT = "audit.json"
EXPLAIN = "explain.json"
MISTAKES = "mistakes.json"
CARD = "model_card.md"
DRIFT_PAGE = "drift.html"
MONITOR = "monitor.sqlite"
REPORT = "report.html"
SOURCES = "sources.json"  # a fingerprint of the data files, so a resume can tell they did not change
WARNINGS = "warnings.log"  # warnings from the libraries lamina uses, one block each (`--debug` prints them instead)
LOCK = ".lock"  # held by the process training into the folder; names it (pid, host) for whoever else tries
OWNED = (CONFIG, MODEL, CHECKPOINTS, CACHE, HISTORY, METRICS, CHECKS, HELD_OUT, AUDIT, EXPLAIN, MISTAKES, CARD,
         DRIFT_PAGE, MONITOR, REPORT, SOURCES, WARNINGS)  # what a run may write: never over a file that is not its own
FINISHED = (CONFIG, f"{MODEL}/model.json", METRICS, CHECKS, HISTORY, HELD_OUT)  # what a finished run holds


class RunFolder:
    """A run folder at `path`. Constructing one touches nothing on disk."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def cache(self) -> Path:
        return self.path / CACHE

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def is_run(self) -> bool:
        return self.exists(CONFIG)

    def require_run(self) -> None:
        if not self.is_run():
            raise LaminaError(f"{self.path} is not a run folder ({CONFIG} not found). Give the --out folder of a run.")

    def require_finished(self) -> None:
        absent = [name for name in FINISHED if not self.exists(name)]
        if absent:
            raise LaminaError(f"{self.path} lacks {', '.join(absent)}: it is not a finished run. "
                              "Train again with --out pointing there, or resume it with lamina train --resume.")

    # ---- reading and writing ---------------------------------------------------------------------

    def create(self) -> RunFolder:
        """The folder of a new run. Refuses a path that is a file, or a folder already holding a run's files
        (an earlier run, or data named like them): a new run would overwrite them."""
        if self.path.exists() and not self.path.is_dir():
            raise LaminaError(f"{self.path} is a file, not a folder. Give --out a folder for the run.")
        taken = [name for name in OWNED if self.exists(name)]
        if taken:
            raise LaminaError(f"{self.path} already holds {', '.join(taken[:4])}: a new run there would overwrite "
                              "them. Give another --out, continue an interrupted run with `lamina train --resume "
                              f"{self.path}`, or delete the folder.")
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def discard_unstarted(self) -> None:
        """Removes what a new run wrote before it had trained anything (its config, sources, cache, warnings),
        when it stopped on a refused setting or bad data: a retry with the same --out must start afresh, not be
        told to resume a run that never trained. A run holding a checkpoint or a model keeps everything. Only
        call it for a new run: `create` refused a folder holding any of these names, so they are all its own."""
        started = self.exists(MODEL) or (self.checkpoints.is_dir() and any(self.checkpoints.iterdir()))
        if started:
            return
        for name in OWNED:
            path = self.path / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    @contextlib.contextmanager
    def lock(self):
        """Holds the folder's lock file for the block, so that a second training into the same folder (a new
        run or a resume) is refused, naming the process that holds it. The lock is the OS's (flock): it ends
        with the process however the process ends, so a killed run never leaves a folder locked."""
        import fcntl
        import os
        import socket
        import time

        if self.path.exists() and not self.path.is_dir():
            raise LaminaError(f"{self.path} is a file, not a folder. Give --out a folder for the run.")
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.path / LOCK, "a+", encoding="utf-8") as stream:
                try:
                    fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    stream.seek(0)
                    holder = stream.read().strip() or "another process"
                    raise LaminaError(f"{self.path} is being written by {holder}: two trainings into one folder "
                                      "would overwrite each other. Wait for it to finish (or stop it), or give "
                                      "another --out.") from None
                stream.truncate(0)
                stream.write(f"process {os.getpid()} on host {socket.gethostname()} since "
                             f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
                stream.flush()
                try:
                    yield self
                finally:
                    stream.truncate(0)  # the folder is free: nobody to name
        finally:
            if created and [p.name for p in self.path.iterdir()] == [LOCK]:  # stopped before writing anything
                (self.path / LOCK).unlink()
                self.path.rmdir()

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
        return path

    def read_text(self, name: str) -> str:
        return (self.path / name).read_text(encoding="utf-8")

    def write_json(self, name: str, value) -> Path:
        return self.write_text(name, json.dumps(json_safe(value), indent=2))

    def read_json(self, name: str, default=None):
        """The JSON file's value; `default` when the file is absent."""
        path = self.path / name
        if not path.exists():
            return default
        return json.loads(path.read_text(encoding="utf-8"))

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        return self.write_text(name, table.to_csv(index=False))

    def read_table(self, name: str, **options) -> pd.DataFrame:
        return pd.read_csv(self.path / name, **options)

    def write_history(self, history: list[dict]) -> Path:
        """history.csv: one row per epoch, the union of every record's keys as columns."""
        return self.write_table(HISTORY, pd.DataFrame(history))

    def write_config(self, config) -> Path:
        return self.write_text(CONFIG, config.to_yaml())

    def read_config(self):
        from lamina.config import Config

        self.require_run()
        return Config.from_file(self.path / CONFIG)


def fingerprint(path) -> str:
    """SHA-256 of a data file, or of a folder's listing (each file's relative path and size)."""
    import hashlib

    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{item.relative_to(path)}\0{item.stat().st_size}\n".encode())
    else:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def run_of(model) -> RunFolder | None:
    """The run folder a model belongs to (its own folder when it was saved alone); None for a model in memory."""
    if model.directory is None:
        return None
    directory = Path(model.directory)
    return RunFolder(directory.parent if directory.name == MODEL else directory)
