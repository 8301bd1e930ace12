"""A recommender's side tables: a users or items table whose columns become features of the ids it keys.

The table is keyed by the interactions' own user (or item) column; its other columns are sniffed and encoded
like any table's (data.schema, features.pipeline: numbers, categories, text such as titles and genres, dates),
so the two-tower network reads a row's features beside its id embedding. Ids are text as in the interactions
(42, 42.0 and "42" are one id). A table without the id column or with an id twice is an error naming them;
ids of the table that never interact are kept (a user known only from the users table gets scores from its
features); interacting ids without a row get missing features, said once. Picture and sound columns are left
out (the towers read no pictures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lamina.data.checks import Finding
from lamina.data.interactions import MAX_NAMED, id_text
from lamina.data.read import read_table
from lamina.data.schema import Column, Schema, infer_column
from lamina.errors import LaminaError
from lamina.features.kinds import PICTURE_KINDS, kind_named
from lamina.features.pipeline import FeaturePipeline

FLAGS = {"user": "--users", "item": "--items"}  # the training flag (and config key, less the dashes) of each table


@dataclass
class SideTable:
    """One side table, read and encoded for a vocabulary of ids."""

    role: str  # "user" or "item"
    source: str  # the file (or "the users table") errors name
    id_column: str
    rows: pd.DataFrame  # the feature columns, indexed by text id
    schema: Schema
    findings: list[Finding] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """The feature columns, in the table's order."""
        return [c.name for c in self.schema.features]

    def extra_ids(self, vocabulary: list[str]) -> list[str]:
        """The table's ids that are not in `vocabulary`, in the table's order."""
        known = set(vocabulary)
        return [i for i in self.rows.index if i not in known]

    def encode(self, ids: list[str]) -> tuple[dict, dict[str, torch.Tensor]]:
        """The feature pipeline's spec and tensors ({key: [len(ids), ...]}) of `ids`' rows (a missing row:
        every feature missing), the pipeline fitted on those rows."""
        aligned = self.rows.reindex(ids)
        pipeline = FeaturePipeline(self.schema).fit(aligned)
        spec = pipeline.spec()
        return {**spec, "images": {}}, pipeline.transform(aligned)

    def values(self, ids: list[str]) -> dict[str, list]:
        """{column: [value per id]} as JSON values (None where missing): what answers show beside an id."""
        aligned = self.rows.reindex(ids)
        return {name: [None if pd.isna(v) else (v.item() if isinstance(v, np.generic) else v)
                       for v in aligned[name].astype(object)] for name in self.columns}


def read_side_table(source, role: str, id_column: str, vocabulary: list[str],
                    overrides: dict[str, str] | None = None) -> SideTable:
    """Reads and checks a side table (a path or a DataFrame) keyed by `id_column`; `vocabulary`: the ids of
    the interactions, whose missing rows the findings name; `overrides`: {column: kind} from the config.

    Raises LaminaError for a table without `id_column`, with an id twice (named), or with no feature column."""
    what = f"the {role}s table"
    frame = read_table(source, what) if isinstance(source, (str, Path)) else source
    name = f"{what} ({Path(source).name})" if isinstance(source, (str, Path)) else what
    if id_column not in frame.columns:
        raise LaminaError(f"{name} has no column {id_column!r}, the {role} ids of the interactions it describes; "
                          f"its columns are {', '.join(map(str, frame.columns))}. Name that column {id_column!r} "
                          f"(or give --{role} the name both files use).")
    frame = frame[frame[id_column].notna()]
    ids = id_text(frame[id_column])
    doubled = ids[ids.duplicated()].unique()
    if len(doubled):
        raise LaminaError(f"{name} has {len(doubled)} {role} id(s) on more than one row: "
                          f"{', '.join(map(str, doubled[:MAX_NAMED]))}{' ...' if len(doubled) > MAX_NAMED else ''}. "
                          f"Keep one row per {role}.")
    features = frame.drop(columns=id_column).set_axis(ids.to_numpy())
    columns = [_column(features[c], (overrides or {}).get(c)) for c in features.columns]
    schema = Schema(columns, target=id_column, task="side")
    if not schema.features:
        raise LaminaError(f"{name} has no column to read as a feature beside {id_column!r} (dropped: "
                          f"{'; '.join(f'{c.name}: {c.note}' for c in columns) or 'none'}).")
    findings = []
    missing = [i for i in vocabulary if i not in features.index]
    if missing:
        findings.append(Finding("warning", f"{role}s_without_side_row",
                                f"{len(missing)} {role}(s) of the interactions have no row in {name}: "
                                f"{', '.join(missing[:MAX_NAMED])}{' ...' if len(missing) > MAX_NAMED else ''}; "
                                "their side features are missing.", id_column))
    return SideTable(role, name, id_column, features[[c.name for c in schema.features]], schema, findings)


def _column(series: pd.Series, kind: str | None) -> Column:
    """The column's kind: the config's, else the sniffed one; pictures and sounds are dropped (no tower reads
    them) and so are id-like columns, as in every table."""
    if kind is not None:
        if kind != "ignore":
            kind_named(kind)
        column = Column(str(series.name), kind, "dropped" if kind == "ignore" else "feature", "set in the config")
    else:
        column = infer_column(series)
    if column.role == "feature" and column.kind in PICTURE_KINDS:
        return Column(column.name, column.kind, "dropped", "pictures and sounds are not read by the towers")
    return column
