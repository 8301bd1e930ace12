"""Session: one run's training settings, run folder and resume flag, handed to a task's `fit` so that every
network any task trains goes through the same Trainer, checkpoints, history and signals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from lamina.config import Config, parse_duration
from lamina.privacy_target import parse_privacy
from lamina.run import HISTORY, SOURCES, RunFolder
from lamina.training import checkpoint
from lamina.training.privacy import DPSGD
from lamina.training.trainer import BEST, LAST, Trainer


@dataclass
class Session:
    config: Config
    run: RunFolder | None = None  # None: a model trained in memory, no checkpoints
    resume: bool = False  # continue from the run's last checkpoints
    progress: bool = True
    fall_back_to_best: bool = False  # resume from the best checkpoint where the last is missing or damaged
    # Called as observer(trainer, record) after every epoch of every network the session trains: the seam
    # through which a tuning trial reports (and is pruned) and tracking logs metrics.
    observers: list = field(default_factory=list)

    def __post_init__(self):
        self._histories: list = []  # (trainer, columns) of every network this session trains
        self._trainers: list[Trainer] = []
        # The epochs the interrupted run recorded, read before this session rewrites history.csv.
        resumed = self.resume and self.run is not None and self.run.exists(HISTORY)
        self._recorded_history = self.run.read_table(HISTORY) if resumed else None

    def trainer(self, network, step, *, epochs: int, lr: float, name: str = "", history_key: dict | None = None,
                **settings) -> Trainer:
        """A Trainer with the config's settings and `step` (the task) as its training step; `settings` override
        them (warmup_epochs, precision, patience, freeze...). `name` gives a run that trains several networks a checkpoint folder each
        (checkpoints/NAME); `history_key` is added to every history.csv row of this network (e.g. its arch)."""
        train = self.config.train
        options = {"weight_decay": train.weight_decay, "warmup_epochs": train.warmup_epochs,
                   "clip_norm": train.clip_norm, "patience": train.patience,
                   "time_budget": parse_duration(train.time_budget), "device": train.device,
                   "precision": train.precision, "seed": self.config.seed, "progress": self.progress,
                   "fingerprint": self.fingerprint(), "fall_back_to_best": self.fall_back_to_best,
                   "trained_before": self._recorded(history_key or {}),
                   "privacy": DPSGD(parse_privacy(train.privacy), train.max_grad_norm) if train.privacy else None,
                   **settings}
        checkpoints = None if self.run is None else self.run.checkpoints / name if name else self.run.checkpoints
        trainer = Trainer(network, step=step, epochs=epochs, lr=lr, checkpoint_dir=checkpoints, **options)
        if self.run is not None:
            self._histories.append((trainer, history_key or {}))
            trainer.callbacks.append(lambda _record: self.write_history())
        self._trainers.append(trainer)
        trainer.callbacks.extend(lambda record, observe=observer: observe(trainer, record) for observer in self.observers)
        return trainer

    def validation(self) -> dict | None:
        """The validation score the model was selected on: over the networks trained with validation data, the
        best epoch of the best network (a task choosing among candidates keeps that one), as {"metric" (the
        validation record's key), "mode" ("min": lower is better, or "max"), "score", "epoch"}; None when no
        network had validation data. Tuning selects on it, so no trial needs the test split."""
        scored = [t for t in self._trainers if getattr(t, "best_score_", None) is not None]
        if not scored:
            return None
        mode = scored[0].step_.mode
        best = (min if mode == "min" else max)(scored, key=lambda t: t.best_score_)
        # The selected epoch's own score, not the moving average a small validation set selects on (Trainer smoothing).
        score = next(r[best.step_.monitor] for r in best.history_ if r["epoch"] == best.best_epoch_)
        return {"metric": best.step_.monitor, "mode": mode, "score": float(score), "epoch": int(best.best_epoch_)}

    def fingerprint(self) -> dict | None:
        """What a checkpoint of this run must have been made with to be resumed: the resolved config and the
        data files' fingerprints (sources.json), as JSON. Left out: the files' paths (their content is what
        counts: a run moved with its data resumes), the time budget and the device (a run may be given more time,
        or continue on another machine), tracking and the tuning settings (neither changes the training). None for a model trained in memory."""
        if self.run is None:
            return None
        config = self.config.model_dump(mode="json", exclude={"data": {"path", "test"}, "track": True, "tune": True,
                                                               "train": {"time_budget", "device"}})
        return json.loads(json.dumps({"config": config, "data": self.run.read_json(SOURCES, {})}))

    def _recorded(self, history_key: dict) -> bool:
        """Whether the resumed run's history.csv holds epochs of the network `history_key` names (any epoch, for
        a run of one network)."""
        history = self._recorded_history
        if history is None or not set(history_key) <= set(history.columns):
            return False
        matching = history[list(history_key)].eq(pd.Series(history_key)).all(axis=1)
        return bool(matching.any())

    def write_history(self) -> None:
        """history.csv: every trained network's epochs, one row each (with its history_key columns)."""
        rows = [{**key, **record} for trainer, key in self._histories for record in trainer.history_]
        self.run.write_history(rows)

    def record_history(self, rows: list[dict]) -> None:
        """Epoch records of a network fitted without the Trainer (e.g. in closed form), for history.csv."""
        if self.run is not None:
            self._histories.append((_Fitted(rows), {}))
            self.write_history()


def resume_points(run: RunFolder, start: str = "last") -> list[str]:
    """Where a resume of `run` continues each network from, one line per checkpoint folder: its last checkpoint
    and the epochs done, or with `start="best"`, where the last cannot be read, its best one. A folder whose
    checkpoint to continue from cannot be read is left out: the Trainer names it, and the fix, when it resumes."""
    folders = sorted({path.parent for name in (LAST, BEST) for path in run.checkpoints.rglob(name)})
    if not folders:
        return ["the start: it stopped before its first checkpoint"]
    points = []
    for folder in folders:
        for name in (LAST, BEST) if start == "best" else (LAST,):
            try:
                meta = checkpoint.metadata(folder / name)
            except checkpoint.DamagedCheckpoint:
                continue
            epochs, batches = meta.get("epoch", 0), meta.get("batch", 0)
            where = f"{epochs} epoch(s) done" + (f", {batches} batch(es) into epoch {epochs + 1}" if batches else "")
            finished = ", its training finished" if meta.get("finished") else ""
            points.append(f"{folder / name} ({where}{finished})")
            break
    return points


class _Fitted:
    def __init__(self, rows: list[dict]):
        self.history_ = rows
