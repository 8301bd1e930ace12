"""What a model's files hold, checked against a pydantic model of its shape: a fault is named by its key in
model.json (`task.state.features.age.knots`) and its value, so a damaged file stops at load with one clear
message rather than failing later, on use."""

from __future__ import annotations

import reprlib
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, ConfigDict, ValidationError


class Record(BaseModel):
    """A stored record's shape: strict types (a width of "64" is wrong, not 64); keys it does not name are
    allowed, so an older or newer file's additions do not stop it."""

    model_config = ConfigDict(strict=True)


class Fault(ValueError):
    """A stored value of the wrong shape: where it sits (dotted keys) and what is wrong with it."""

    def __init__(self, key: str, problem: str | None):
        """`problem` None: the key is missing."""
        super().__init__(f"the key {key!r} is missing" if problem is None else f"{key}: {problem}")
        self.key, self.problem = key, problem

    def under(self, where: str) -> Fault:
        return Fault(f"{where}.{self.key}" if self.key else where, self.problem)


def message(error: dict) -> str:
    """One pydantic error's text (an item of ValidationError.errors()) without pydantic's "Value error, " prefix
    before a validator's own text, and without a closing period (the caller ends the sentence)."""
    cause = error.get("ctx", {}).get("error") if error["type"] == "value_error" else None
    return str(cause if cause is not None else error["msg"]).rstrip(".")


def checked(shape: type[BaseModel], value, where: str = ""):
    """`value` validated by `shape`. Raises Fault naming the first faulty key (under `where`) and its value."""
    try:
        return shape.model_validate(value)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(map(str, [where, *first["loc"]] if where else first["loc"]))
        problem = (None if first["type"] == "missing"
                   else message(first) if first["type"] == "value_error"  # a validator's own text names the values
                   else f"{first['msg']} (it is {reprlib.repr(first['input'])})")
        raise Fault(key, problem) from None


@contextmanager
def under(where: str) -> Iterator[None]:
    """Faults raised inside are re-raised with their keys under `where` (a record its owner checks in parts)."""
    try:
        yield
    except Fault as fault:
        raise fault.under(where) from None
