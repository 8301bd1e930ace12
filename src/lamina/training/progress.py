"""Live training progress: a rich bar on a terminal, one plain line per epoch elsewhere."""

from __future__ import annotations

import sys
import time


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, epochs: int, steps_per_epoch: int | None, enabled: bool = True, stream=None, label: str = ""):
        """`label`: the network being trained (its architecture, e.g. "mlp"), leading each line: a run that trains
        several (a forecast's candidates) says which one each epoch is of; "": none."""
        self.epochs = epochs
        self.head = f"{label}  " if label else ""
        self.steps = steps_per_epoch or 0
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live = enabled and self.stream.isatty()
        self._bar = None
        self._started = time.perf_counter()

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn(self.head + "epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=self.steps or None, epoch=1,
                                            epochs=self.epochs, status="")
        return self

    def __exit__(self, *_exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start_epoch(self, epoch: int) -> None:
        if self._bar is not None:
            self._bar.reset(self._task, total=self.steps or None)
            self._bar.update(self._task, epoch=epoch + 1)

    def step(self, done: int, loss: float | None) -> None:
        if self._bar is not None:
            status = f"loss {loss:.4f}" if loss is not None else ""
            self._bar.update(self._task, completed=done, status=status)

    def end_epoch(self, record: dict, remaining_epochs: int) -> None:
        if not self.enabled:
            return
        shown = "  ".join(f"{k} {v:.4f}" for k, v in record.items() if k.startswith(("train_", "valid_")))
        elapsed = time.perf_counter() - self._started
        eta = format_seconds(record["seconds"] * remaining_epochs)
        line = f"{self.head}epoch {record['epoch']}/{self.epochs}  {shown}  elapsed {format_seconds(elapsed)}  eta<= {eta}"
        if self._bar is not None:
            self._bar.console.print(line)
        else:
            print(line, file=self.stream, flush=True)
