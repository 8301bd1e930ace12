"""Drift monitoring: the server records binned summaries of requests in SQLite; `lamina monitor`
compares a window of them (or a file) with the training profile, per column and for the predictions.

Per column: the population stability index (PSI) on the profile's bins, and the two-sample test of its
kind's drift summary (features.drift) — Kolmogorov–Smirnov for numbers (on raw values when two files are
given, on the binned distribution otherwise), dates and text lengths; chi-squared on the table of training
and new counts for categories. A column is flagged when the shift is both significant (p-value below
P_VALUE) and large (PSI at least PSI_MIN): significance alone flags trivial shifts in large samples, PSI
alone flags sampling noise in small ones (rare categories especially). Below MIN_ROWS rows there is no
verdict either way, nor for an ID-like column (its values almost all distinct: no categories to compare).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.run import MONITOR
from lamina.serving.profile import bin_labels, summarize, summary_of

LOG = logging.getLogger(__name__)
PSI_MIN = 0.1  # smallest PSI flagged (the common rule of thumb: below 0.1 the distribution has not moved)
P_VALUE = 0.01  # significance of the KS / chi-squared test
EPSILON = 1e-4  # floor of a bin's share in PSI, so an empty bin does not give an infinite term
# Fewest rows judged: about five a bin over a profile's ten bins (and the missing one), the usual floor of
# the chi-squared test; on fewer, PSI is mostly sampling noise (three rows in one decile give PSI ≈ 1.9).
MIN_ROWS = 50
FLUSH_SECONDS = 0.5  # longest a served request's summary waits in memory before it is written
QUEUE_REQUESTS = 10_000  # requests queued for the recorder at most (about 1,000 rows each at worst)
PREDICTION = "(prediction)"  # how the predictions' row is shown; in data it is the row whose column is None


@dataclass
class ColumnDrift:
    column: str | None  # the input column; None for the model's predictions
    kind: str
    rows: int
    psi: float
    test: str
    statistic: float
    p_value: float
    flagged: bool | None  # None: no verdict, `unjudged` says why
    unjudged: str = ""  # why there is no verdict

    @property
    def label(self) -> str:
        return PREDICTION if self.column is None else self.column


class Recorder:
    """Appends binned summaries of served rows (time, model, row count, summary; never a raw payload), off the
    request path: `record` only queues the rows; every FLUSH_SECONDS a worker thread bins whatever has queued,
    one pass per model, and writes one row per model. `close` (the server's shutdown, or the interpreter's exit)
    writes everything queued before it returns: nothing is lost."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._db = self._connect()  # used by the worker thread only, and closed with it
        # Bounded: a worker that falls behind slows requests down (put blocks) rather than grow without end.
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_REQUESTS)
        self._wake = threading.Event()  # set by flush and close: write now
        self._worker = threading.Thread(target=self._work, name=f"lamina-recorder-{self.path.name}", daemon=True)
        self._worker.start()
        atexit.register(self.close)  # runs before daemon threads stop: a server stopped without its shutdown hook

    def record(self, model: str, profile: dict, rows: pd.DataFrame | list[dict], predictions) -> None:
        """Queue one request's rows (a frame, or records: dicts of column → value) and its watched predictions
        [rows]. Returns at once; the summary is written within FLUSH_SECONDS."""
        if self._worker.is_alive():
            self._queue.put((model, profile, rows, np.asarray(predictions)))
        else:  # closed: write it here, rather than lose it
            db = self._connect()
            try:
                self._write(db, [(model, profile, rows, np.asarray(predictions))])
            finally:
                db.close()

    def flush(self) -> None:
        """Returns once everything queued before the call is written."""
        if self._worker.is_alive():
            written = threading.Event()
            self._queue.put(written)
            self._wake.set()
            written.wait()

    def close(self) -> None:
        """Writes what is queued, stops the worker and closes the database (idempotent)."""
        atexit.unregister(self.close)
        if self._worker.is_alive():
            self._queue.put(None)
            self._wake.set()
            self._worker.join()
            self._write(self._db, [item for item in self._drain() if isinstance(item, tuple)])  # queued meanwhile
            self._db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)  # made here, used in the worker
        # WAL with normal sync: a flush costs an append, not an fsync; a crash loses at most the last few
        # summaries, never the database.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY, time REAL, model TEXT, "
                       "rows INTEGER, summary TEXT)")
        return db

    def _work(self) -> None:
        """Every FLUSH_SECONDS (or when flush or close asks), bin and write whatever has queued. The worker sleeps
        in between rather than wait on the queue: woken by each request, it would compete with the request path
        for the interpreter (the GIL), which on a busy machine costs requests milliseconds."""
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            items = self._drain()
            try:
                self._write(self._db, [item for item in items if isinstance(item, tuple)])
            except Exception:  # a summary that cannot be made must not stop the recording of the next ones
                LOG.exception("lamina: drift summaries could not be written to %s", self.path)
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is None for item in items):
                return

    def _drain(self) -> list:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _write(self, db: sqlite3.Connection, items: list[tuple]) -> None:
        """One summary row per model over every queued request of it (bin counts add up over rows)."""
        by_model: dict[str, list[tuple]] = {}
        for item in items:
            by_model.setdefault(item[0], []).append(item)
        stored = []
        for model, requests in by_model.items():
            profile = requests[0][1]
            records = [record for _, _, rows, _ in requests if isinstance(rows, list) for record in rows]
            frames = [rows for _, _, rows, _ in requests if isinstance(rows, pd.DataFrame)]
            # One frame of all the records (a frame per request would cost more than the binning); the counts are
            # per column, so rows need not keep the order of the predictions.
            frame = pd.concat(frames + ([pd.DataFrame(records, columns=list(records[0]))] if records else []),
                              ignore_index=True)
            predictions = pd.Series(np.concatenate([p for *_, p in requests]))
            stored.append((time.time(), model, len(frame), json.dumps(summarize(profile, frame, predictions))))
        if stored:
            with db:
                db.executemany("INSERT INTO requests (time, model, rows, summary) VALUES (?, ?, ?, ?)", stored)


def recorded_counts(path: Path, model: str | None = None, since_seconds: float | None = None) -> dict:
    """Bin counts summed over the recorded requests (optionally one model's, within a window), shaped as
    profile.summarize's, with "rows": the rows recorded."""
    query, parameters = "SELECT rows, summary FROM requests WHERE 1=1", []
    if model is not None:
        query += " AND model = ?"
        parameters.append(model)
    if since_seconds is not None:
        query += " AND time >= ?"
        parameters.append(time.time() - since_seconds)
    columns: dict[str, np.ndarray] = {}
    prediction, total = None, 0
    with sqlite3.connect(path) as db:
        for rows, summary in db.execute(query, parameters):
            summary = _current_shape(json.loads(summary))
            for column, counts in summary["columns"].items():
                columns[column] = columns.get(column, 0) + np.asarray(counts)
            if summary["prediction"] is not None:
                prediction = (0 if prediction is None else prediction) + np.asarray(summary["prediction"])
            total += rows
    return {"rows": total, "columns": {column: counts.tolist() for column, counts in columns.items()},
            "prediction": None if prediction is None else prediction.tolist()}


def _current_shape(summary: dict) -> dict:
    """A stored summary as profile.summarize writes it; earlier versions kept the predictions among the
    columns, as "__prediction__" (their columns' counts are lists, never a dict)."""
    if isinstance(summary.get("columns"), dict):
        return summary
    columns = dict(summary)
    return {"columns": columns, "prediction": columns.pop("__prediction__", None)}


def drift_table(profile: dict, counts: dict, raw: tuple[pd.DataFrame, pd.DataFrame] | None = None
                ) -> list[ColumnDrift]:
    """One row per profiled column with counts, then one for the predictions; `counts` as
    profile.summarize gives them; `raw` = (reference, current) rows for an exact KS on the columns."""
    table = []
    for column, entry, observed in _observed(profile, counts):
        rows = int(observed.sum())
        expected = np.asarray(entry["expected"], dtype=float)
        if rows == 0 or len(expected) != len(observed):
            continue
        actual = observed / rows
        psi = float(np.sum((actual - expected) * np.log(np.maximum(actual, EPSILON) / np.maximum(expected, EPSILON))))
        pair = (raw[0][column], raw[1][column]) if raw is not None and column is not None else None
        summary = summary_of(entry)
        test, statistic, p_value = summary.compare(entry, observed, expected, profile["rows"], pair)
        unjudged = (summary.unjudged(entry) if column is not None else None) or (
            f"too few rows (< {MIN_ROWS}) to tell drift from chance" if rows < MIN_ROWS else None)
        flagged = None if unjudged else bool(p_value < P_VALUE and psi >= PSI_MIN)
        table.append(ColumnDrift(column, entry["kind"], rows, psi, test, float(statistic), float(p_value), flagged,
                                 unjudged or ""))
    return table


def _observed(profile: dict, counts: dict):
    """(column or None for the predictions, its profile entry, its observed counts) for each part with counts."""
    for column, entry in profile["columns"].items():
        if column in counts["columns"]:
            yield column, entry, np.asarray(counts["columns"][column], dtype=float)
    if counts.get("prediction") is not None:
        yield None, profile["prediction"], np.asarray(counts["prediction"], dtype=float)


def offline_drift(model, reference: pd.DataFrame, current: pd.DataFrame):
    """Two files: the reference's own profile (bins from the reference rows) against the current rows.
    Returns the drift table, the profile and the current rows' bin counts."""
    from lamina.serving.profile import build_profile, date_orders_of

    kinds = {c.name: c.kind for c in model.schema.features}
    watched = model.task.watched  # a model of several targets: its first target's predictions
    profile = build_profile(reference, kinds, watched(model.predict(reference)), model.schema.task,
                            date_orders_of(model.schema))
    counts = summarize(profile, current, watched(model.predict(current)))
    return drift_table(profile, counts, raw=(reference, current)), profile, counts


def database_of(model) -> Path:
    """Where a model's requests are recorded: its run folder (or its own folder if it has no run)."""
    return model.run_folder / MONITOR


def drift_text(table: list[ColumnDrift]) -> str:
    lines = [f"{'column':<28} {'kind':<9} {'rows':>7} {'PSI':>7} {'test':<12} {'stat':>7} {'p-value':>9}  flag"]
    for row in table:
        lines.append(f"{row.label:<28} {row.kind:<9} {row.rows:>7} {row.psi:>7.3f} {row.test:<12} "
                     f"{row.statistic:>7.3f} {row.p_value:>9.2g}  {_verdict(row)}")
    judged = [r for r in table if r.flagged is not None]
    flagged = [r.label for r in judged if r.flagged]
    if judged:
        lines.append(f"\n{len(flagged)} of {len(judged)} flagged" + (f": {', '.join(flagged)}" if flagged else ""))
    else:
        lines.append("\nNothing judged, so no drift verdict either way.")
    for row in table:
        if row.flagged is None:
            lines.append(f"not judged: {row.label}: {row.unjudged}")
    return "\n".join(lines)


def _verdict(row: ColumnDrift) -> str:
    return {True: "DRIFT", False: ""}.get(row.flagged, "not judged")


def drift_page(table: list[ColumnDrift], profile: dict, counts: dict, title: str) -> str:
    """The drift report as HTML: the text table, then per column the training and current share of each bin.
    Every value shown is escaped (column names and categories come from the data)."""
    parts = {column: (entry, observed) for column, entry, observed in _observed(profile, counts)}
    rows = []
    for row in table:
        entry, observed = parts[row.column]
        observed = observed / max(observed.sum(), 1)
        bars = "".join(
            f"<tr><td>{escape(str(label))}</td><td><span class='bar ref' style='width:{100 * e:.0f}px'></span> "
            f"{e:.1%}</td><td><span class='bar cur' style='width:{100 * o:.0f}px'></span> {o:.1%}</td></tr>"
            for label, e, o in zip(bin_labels(entry), map(float, entry["expected"]), observed, strict=True)
        )
        flag = {True: "<b class='drift'>DRIFT</b>", False: "stable"}.get(row.flagged, escape(f"not judged: {row.unjudged}"))
        rows.append(
            f"<h3>{escape(row.label)} — {flag}</h3><p>PSI {row.psi:.3f}; {escape(row.test)} statistic "
            f"{row.statistic:.3f}, p = {row.p_value:.2g}; {row.rows} rows.</p>"
            f"<table><tr><th>bin</th><th>training</th><th>current</th></tr>{bars}</table>"
        )
    style = (".bar{display:inline-block;height:10px}.ref{background:#94a3b8}.cur{background:#2563eb}"
             ".drift{color:#b91c1c}body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto}"
             "td,th{padding:2px 8px;text-align:left}")
    summary = drift_text(table)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{style}"
            f"</style></head><body><h1>{escape(title)}</h1><p>Flagged: p &lt; {P_VALUE} with PSI ≥ {PSI_MIN}; no "
            f"verdict below {MIN_ROWS} rows, nor for an ID-like column.</p><pre>{escape(summary)}</pre>"
            f"{''.join(rows)}</body></html>")


def to_json(table: list[ColumnDrift]) -> list[dict]:
    from lamina.plain import json_safe

    return [json_safe(asdict(row)) for row in table]
