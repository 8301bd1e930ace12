"""Serve models over HTTP with FastAPI: typed request bodies from each model's schema, safe defaults.

Routes per model NAME: POST /models/NAME/predict, POST /models/NAME/explain, GET /models/NAME/schema,
GET /models/NAME/ (the playground page). With one model the same routes also sit at /predict,
/explain, /schema and /. GET /health and GET /metrics (Prometheus text) are shared.

Safe by default: a bearer token when one is set (everything but /health), a request-size limit, a
batch-size limit, time limits on reading a request's head and body and on an idle connection, JSON bodies
only, plain or gzip-compressed (415 otherwise; the size limit holds for the decompressed body too), every field
validated (4xx naming it), no URL fetched, no path read from a request.
"""

# No `from __future__ import annotations` here: FastAPI must see the request-body classes that each
# route builds at run time, and postponed (string) annotations would hide them.
import asyncio
import contextlib
import errno
import gc
import hmac
import json
import os
import re
import socket
import sys
import time
from html import escape
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import quote

import numpy as np
import pandas as pd
import torch
import uvicorn
from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, create_model
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lamina.data.media import refuse_each
from lamina.data.read import missing_if_spelt_so
from lamina.errors import LaminaError
from lamina.features.kinds import VALUE_FIELD, kind_named
from lamina.features.records import RecordInputs
from lamina.model import Model
from lamina.serving.encoding import Refused, decoded
from lamina.tasks.base import registered_tasks

MAX_BODY_BYTES = 1_000_000  # largest request body accepted
MAX_BATCH = 1_000  # most records in one request
INLINE_ROWS = 16  # requests of at most this many records are answered on the event loop (about a millisecond)
SERVE_THREADS = 1  # PyTorch intra-op threads of a `lamina serve` process (serve() says why)
OPEN_PATHS = {"/health"}  # reachable without the token
HEAD_SECONDS = 10.0  # longest wait for a request's line and headers, from the connection (or the last answer) on
BODY_SECONDS = 30.0  # longest wait for a request's whole body once its headers are in (1 MB at ~35 kB/s)
KEEP_ALIVE_SECONDS = 5  # an idle connection is closed after this long (uvicorn's own default, made explicit)
MAX_NESTING = 64  # deepest arrays and objects in a body; a request needs a handful, the JSON parser recurses per level
# A JSON string, so brackets inside it are not counted; an unterminated one runs to the end of the body, so the
# pattern always matches where it starts and never rescans (a body of unclosed strings stays linear).
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.?)*"?', re.DOTALL)
SHAPE_FIELDS = 8  # a record's fields a 422's shape hint names; GET /schema lists them all
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair: JSON's \uD800 escapes allow it, UTF-8 does not


def record_model(name: str, features: list, dropped: list = ()) -> type[BaseModel]:
    """A pydantic model with one required, nullable field per input column (`features`: the schema's, in order;
    null = missing value), of the type its kind declares (features.kinds: images and audio as base64 file
    bytes, never paths). Text a CSV cell reads as missing ("NA", "null", "nan", "?": data.read.MISSING_SPELLINGS)
    is a missing value in every field, as `lamina predict` reads it. `dropped`: the columns the schema left out
    (ID-like or ignored), each an optional scalar the model does not read (as `lamina predict` ignores them in a
    table), left out of `model_dump`; any other field is refused, naming it."""
    fields: dict[str, Any] = {
        f"field_{index}": (Annotated[kind_named(column.kind).request_field, BeforeValidator(missing_if_spelt_so)],
                           Field(..., alias=column.name))
        for index, column in enumerate(features)
    }
    fields.update({f"dropped_{index}": (VALUE_FIELD, Field(None, alias=column.name, exclude=True))
                   for index, column in enumerate(dropped)})
    config = ConfigDict(extra="forbid", populate_by_name=False, allow_inf_nan=False)
    return create_model(f"{_identifier(name)}Record", __config__=config, **fields)


def batch_model(name: str, record: type[BaseModel]) -> type[BaseModel]:
    config = ConfigDict(extra="forbid")
    return create_model(f"{_identifier(name)}Batch", __config__=config,
                        records=(list[record], Field(..., min_length=1, max_length=MAX_BATCH)))


def records_request(name: str, features: list, dropped: list = ()):
    """The body a model of input columns `features` takes: one record, or {"records": [...]} of up to MAX_BATCH
    (the batch first, so a 422's shape hint names it first). A table model's /predict and /explain, and any task
    that answers records (anomaly detection), take the same bodies."""
    record = record_model(name, features, dropped)
    return batch_model(name, record) | record


def example_record(features: list, encoders: dict) -> dict:
    """A record a model of input columns `features` (fitted `encoders` by column) takes, for /schema and the page
    to start from: each column's typical training value where its encoder knows one (`typical()`: a number's
    median, a category's most common value, a date in the middle of the training years), else its kind's example
    value (a picture's or recording's base64 bytes, a text)."""
    import tempfile
    from pathlib import Path

    record = {}
    with tempfile.TemporaryDirectory() as folder:  # a picture or recording kind writes its example file there
        for column in features:
            typical = getattr(encoders[column.name], "typical", lambda: None)()
            record[column.name] = kind_named(column.kind).request_example(Path(folder)) if typical is None else typical
    return record


def _identifier(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in name)
    return cleaned[:1].upper() + cleaned[1:] if cleaned else "Model"


def request_shape(request) -> str:
    """A request body as a client writes it, its required fields only (every field when none is required; the
    first SHAPE_FIELDS of them), values elided: '{"history": [{...}, ...]}' for a forecaster, '{"users": [...]}'
    for a recommender; a union of bodies as its forms joined by "or": '{"records": [{...}, ...]} or {"age": ...,
    "city": ...}' for records (records_request). What a 422 for a body of the wrong shape tells to send."""
    if get_origin(request) in (Union, UnionType):
        return " or ".join(request_shape(form) for form in get_args(request))
    fields = [(field.alias or name, field) for name, field in request.model_fields.items()]
    shown = [(name, field) for name, field in fields if field.is_required()] or fields
    more = ", ..." if len(shown) > SHAPE_FIELDS else ""

    def elided(annotation) -> str:
        if get_origin(annotation) is list:
            item = get_args(annotation)[0]
            return "[{...}, ...]" if isinstance(item, type) and issubclass(item, BaseModel) else "[...]"
        return "..."

    return "{" + ", ".join(f"{json.dumps(name)}: {elided(field.annotation)}" for name, field in shown[:SHAPE_FIELDS]) \
        + more + "}"


def request_records(body: BaseModel) -> list[dict]:
    """The records of a record or a batch of records: column → value as validated (None: missing); refused
    when a record holds no value at all."""
    records = [r.model_dump(by_alias=True) for r in (body.records if hasattr(body, "records") else [body])]
    for row, values in enumerate(records):
        if all(_blank(value) for value in values.values()):  # a missing value is read; a record of them is no input
            raise LaminaError(f"record {row}: every field is null or blank ({', '.join(map(repr, values))}), so there is "
                              "nothing to predict from. Send a value for at least one field.")
    return records


def request_keys(body: BaseModel, identifiers: list[str]) -> list[dict]:
    """Per record of a record or a batch, the `identifiers` (ID-like columns the schema dropped) it was sent with,
    as sent: what the server echoes in each prediction so a client can join answers back to its rows."""
    records = body.records if hasattr(body, "records") else [body]
    if not identifiers:
        return [{} for _ in records]
    attributes = {field.alias: attribute for attribute, field in type(records[0]).model_fields.items()}
    return [{name: getattr(r, attributes[name]) for name in identifiers if attributes[name] in r.model_fields_set}
            for r in records]


def request_frame(records: list[dict], features: list) -> pd.DataFrame:
    """The records' rows, each value decoded as its column's kind reads it; rows labelled 'record 0', 'record 1'...
    (what an encoder's error names)."""
    frame = pd.DataFrame(records, columns=[c.name for c in features], index=[f"record {i}" for i in range(len(records))])
    problems = []  # (where, why): every value that cannot be decoded is named in one error, not the first alone

    def read(decode, value, where: str):
        try:
            return decode(value, where)
        except LaminaError as error:
            problems.append((where, str(error).removeprefix(f"{where}: ")))
            return None

    for column in features:
        decode = kind_named(column.kind).decode  # request value → what the encoder reads (base64 → a file's content)
        if decode is not None:
            frame[column.name] = [None if value is None else read(decode, value, f"record {row}, field {column.name!r}")
                                  for row, value in enumerate(frame[column.name])]
    refuse_each(problems)
    return frame


def _blank(value) -> bool:
    """A missing value as a request sends it: null, or text of nothing but spaces (as an empty CSV cell reads)."""
    return value is None or (isinstance(value, str) and not value.strip())


class ModelService:
    """One served model: its routes, its metrics and (optionally) its drift recorder."""

    def __init__(self, name: str, model: Model, metrics, recorder=None):
        self.name, self.model, self.metrics, self.recorder = name, model, metrics, recorder
        if model.task.row_model:
            self.request = records_request(name, model.schema.features, model.schema.dropped)
            self.identifiers = [c.name for c in model.schema.identifiers]
            # None: this model's kinds need the DataFrame path. A PLR network does not read the rank pieces.
            unread = model.architecture["hyperparameters"].get("plr_unread", ())
            self.record_inputs = RecordInputs.of(model.features, unread)
        else:  # a task with its own request: e.g. a forecast's history
            self.request = model.task.request_model(model, _identifier(name))

    @property
    def routes(self) -> tuple[str, ...]:
        return (*self.posted, "schema", "")

    @property
    def posted(self) -> tuple[str, ...]:
        """The routes that take `self.request` as their body."""
        return ("predict", "explain") if self.model.task.row_model else (self.model.task.route,)

    def predictions(self, records: list[dict]) -> list[dict]:
        """The answer per record, as `model.predict` predicts it: encoded straight from the records where every
        column's kind allows (features.records), else through a DataFrame. The drift summary is queued for the
        recorder's thread, not made here."""
        model = self.model
        if self.record_inputs is not None:
            rows, inputs = records, self.record_inputs(records)
        else:
            rows = request_frame(records, model.schema.features)
            inputs = model.features.transform(rows)
        with torch.inference_mode():  # no autograd bookkeeping at all: Adult's one-row forward 289 → 270 µs
            outputs = model.outputs_of(inputs)
        answers, watched = model.task.answers(outputs)
        self.metrics.observe_predictions(self.name, watched)
        if self.recorder is not None:
            self.recorder.record(self.name, model.profile, rows, watched)
        return answers

    def schema(self) -> dict:
        model = self.model
        if not model.task.row_model:
            return {"name": self.name, "task": model.task.name, "route": model.task.route,
                    "playground": model.task.playground,
                    "request": TypeAdapter(self.request).json_schema(by_alias=True),
                    "example": model.task.request_example(model), "metrics": model.metrics, "training": model.training}
        columns = []
        for column in model.schema.features:
            entry = {"name": column.name, "kind": column.kind}
            encoder = model.features.encoders[column.name]
            if hasattr(encoder, "vocabulary_"):
                entry["values"] = list(encoder.vocabulary_)
            columns.append(entry)
        return {"name": self.name, "task": model.task.name, "problem": model.schema.task, "target": model.schema.target, "classes": model.classes,
                "targets": [c.name for c in model.schema.columns if c.role == "target"],
                "columns": columns, "identifiers": self.identifiers,
                "example": example_record(model.schema.features, model.features.encoders),
                "metrics": model.metrics, "training": model.training}

    def router(self) -> APIRouter:
        router = self._row_router() if self.model.task.row_model else self._task_router()
        # The routes other models answer (a table model's /predict and /explain, each task's own) answer 404 naming
        # this model's, rather than a bare "Not Found".
        every = {"predict", "explain"} | {task.route for task in registered_tasks().values()}
        for route in sorted(every - set(self.routes)):
            router.add_api_route(f"/{route}", self._elsewhere, methods=["POST"], include_in_schema=False)
        return router

    def _task_router(self) -> APIRouter:
        """POST /<route> with the task's request, GET /schema and a page describing the request."""
        router, request, task = APIRouter(route_class=JsonBodyRoute), self.request, self.model.task

        def answer(body: Annotated[request, Body()]) -> JSONResponse:  # type: ignore[valid-type]
            return JSONResponse({"model": self.name, **task.respond(self.model, body)})

        def schema() -> dict:
            return self.schema()

        def page() -> HTMLResponse:
            from lamina.serving.page import task_page

            return HTMLResponse(task_page(self.schema()))

        router.add_api_route(f"/{task.route}", answer, methods=["POST"], summary=f"{task.route} with {self.name}")
        router.add_api_route("/schema", schema, methods=["GET"], summary=f"Request and scores of {self.name}")
        router.add_api_route("/", page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
        return router

    def _elsewhere(self, request: Request) -> JSONResponse:
        """POST to a route this model lacks (/explain to a translation model, /translate to a table model): 404
        naming the route to use and its request."""
        task = self.model.task
        prefix, asked = request.url.path.rsplit("/", 1)
        if task.row_model:
            send = f"POST {prefix}/predict (or {prefix}/explain) with its records (GET {prefix}/schema for the columns)"
        else:
            example = task.request_example(self.model)
            send = f"POST {prefix}/{task.route}" + (f", e.g. {json.dumps(example)}" if example else
                                                     " (GET its /schema for the request)")
        return AsciiJSONResponse(status_code=404, content={
            "error": f"{self.name} is {task.described} model: it has no /{asked}; send {send}."})

    def _row_router(self) -> APIRouter:
        router, request = APIRouter(route_class=JsonBodyRoute), self.request

        async def predict(body: Annotated[request, Body()]) -> JSONResponse:  # type: ignore[valid-type]
            records, keys = request_records(body), request_keys(body, self.identifiers)
            # A few rows are answered on the event loop (a thread hop would cost more than they do); a larger batch
            # in the thread pool, so it does not hold up other requests.
            if len(records) <= INLINE_ROWS:
                predictions = self.predictions(records)
            else:
                predictions = await run_in_threadpool(self.predictions, records)
            # Each answer after the identifiers its record was sent with (a key an answer's own field takes is left out).
            predictions = [{**{k: v for k, v in key.items() if k not in answer}, **answer} if key else answer
                           for key, answer in zip(keys, predictions, strict=True)]
            # A JSONResponse skips FastAPI's generic re-encoding of the answer: plain JSON types already.
            return JSONResponse({"model": self.name, "predictions": predictions})

        def explain(body: Annotated[request, Body()]) -> dict:  # type: ignore[valid-type]
            from lamina.insight.explain import explain_rows

            explanation = explain_rows(self.model, request_frame(request_records(body), self.model.schema.features))
            return {"model": self.name, **explanation}

        def schema() -> dict:
            return self.schema()

        def page() -> HTMLResponse:
            from lamina.serving.page import playground

            return HTMLResponse(playground(self.schema()))

        router.add_api_route("/predict", predict, methods=["POST"], summary=f"Predict with {self.name}")
        router.add_api_route("/explain", explain, methods=["POST"], summary=f"Explain {self.name}'s predictions")
        router.add_api_route("/schema", schema, methods=["GET"], summary=f"Inputs and outputs of {self.name}")
        router.add_api_route("/", page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
        return router


def watched(model: Model) -> bool:
    """Whether serving records `model`'s request summaries for `lamina monitor`: a row model (it has a training
    profile to measure drift against) with a run folder to keep them in."""
    return model.profile is not None and model.directory is not None


def create_app(models: dict[str, Model], token: str | None = None, monitor: bool = True,
               max_body_bytes: int = MAX_BODY_BYTES, body_seconds: float = BODY_SECONDS) -> FastAPI:
    """`monitor`: record binned request summaries in the run folder of each `watched` model for `lamina monitor`;
    `max_body_bytes`: a larger body is answered 413, except on the routes of a model whose requests need more
    (Task.body_limit: a clip to transcribe), which then set their own limit and what their 413 tells to send instead;
    `body_seconds`: a body not received within it is answered 408."""
    from lamina.serving.metrics import ServerMetrics
    from lamina.serving.monitor import Recorder, database_of

    if not models:
        raise LaminaError("No model to serve.")
    metrics = ServerMetrics()
    services = {
        name: ModelService(name, model, metrics, Recorder(database_of(model)) if monitor and watched(model) else None)
        for name, model in models.items()
    }

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        for service in services.values():  # on shutdown: the queued drift summaries are written before it ends
            if service.recorder is not None:
                service.recorder.close()

    app = FastAPI(title="lamina model server", version="1", lifespan=lifespan)
    for name, service in services.items():
        app.include_router(service.router(), prefix=f"/models/{name}", tags=[name])
    if len(services) == 1:
        app.include_router(next(iter(services.values())).router(), tags=["default model"])

    @app.get("/health", summary="Liveness and the served models")
    def health() -> dict:
        return {"status": "ok", "models": sorted(services)}

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.text(), media_type="text/plain; version=0.0.4")

    if len(services) > 1:
        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def index() -> HTMLResponse:
            links = "".join(f"<li><a href='models/{quote(n)}/'>{escape(n)}</a></li>" for n in sorted(services))
            return HTMLResponse(f"<!doctype html><title>lamina models</title><h1>Models</h1><ul>{links}</ul>")

    def mounts(name: str) -> tuple[str, ...]:
        """Where a model's routes are served: under /models/NAME, and at the root too when it is the only one."""
        return (f"/models/{name}", *([""] if len(services) == 1 else []))

    prefixes = [prefix for name in services for prefix in mounts(name)]
    # Route → the body it takes ('{"records": [{...}, ...]} or {"age": ..., ...}'), said when a body has the wrong
    # shape: a bare list, a misspelt wrapper, a record sent where a task takes something else.
    shapes = {f"{prefix}/{route}": request_shape(service.request)
              for name, service in services.items() for prefix in mounts(name) for route in service.posted}

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = _branch_errors(error.errors(), error.body)
        # A field the model does not take first: a misspelt one explains the required field said missing after it.
        errors = sorted(errors, key=lambda item: item.get("type") != "extra_forbidden")
        problems = [f"{_where(item)}: {_capped(item['msg'], PROBLEM_CHARACTERS)}" for item in errors[:LISTED_PROBLEMS]]
        more = f"; and {len(errors) - LISTED_PROBLEMS} more" if len(errors) > LISTED_PROBLEMS else ""
        shape = shapes.get(request.url.path)
        # A bare list, a misspelt wrapper: the problems name fields the client never meant; say the shape.
        send = f"send a body of the form {shape}: " if shape and _wrong_shape(errors, error.body) else ""
        return AsciiJSONResponse(status_code=422, content={"error": _capped(send + "; ".join(problems) + more),
                                                           "detail": _safe_errors(errors[:LISTED_PROBLEMS])})

    @app.exception_handler(LaminaError)
    async def bad_input(_request: Request, error: LaminaError) -> JSONResponse:
        return AsciiJSONResponse(status_code=422, content={"error": _capped(str(error))})

    raised = {}  # path → (bytes, hint): the routes of a model whose requests need more than the default
    for name, service in services.items():
        need = service.model.task.body_limit()
        if need is not None and need[0] > max_body_bytes:
            for prefix in mounts(name):
                raised.update({f"{prefix}/{route}": need for route in service.routes})
    app.add_middleware(HeadAsGet)  # innermost: the routes see a GET, the middlewares around it the HEAD
    app.add_middleware(BodyLimit, limit=max_body_bytes, seconds=body_seconds, raised=raised)
    known_paths = {"/", "/health", "/metrics", "/docs", "/redoc", "/openapi.json"} | {
        f"{prefix}/{route}" for prefix in prefixes for service in services.values() for route in service.routes
    }
    app.add_middleware(Guard, token=token, metrics=metrics, known_paths=known_paths)
    return app


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port` (as uvicorn binds one: IPv6 where the host has a colon, SO_REUSEADDR)
    for `serve`, bound before the server says it is serving. Raises LaminaError saying to choose another --port
    when the port is in use (uvicorn said so only after announcing, then exited 1), or why else it cannot bind."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as error:
        listening.close()
        if error.errno == errno.EADDRINUSE:
            raise LaminaError(f"port {port} is in use on {host} (another server?); choose another with --port.") from None
        raise LaminaError(f"cannot listen on {host}:{port}: {error.strerror or error}. Check --host and --port.") from None
    return listening


def serve(app: FastAPI, host: str, port: int, listening: socket.socket | None = None) -> None:
    """Run `app` with uvicorn until stopped (config: `server_config`), PyTorch on SERVE_THREADS intra-op threads
    unless OMP_NUM_THREADS says otherwise. A served request is a few rows, too small to share out among threads;
    yet some operators (a PLR embedding's sine and cosine, a batched matrix product) still open a parallel region,
    which waits for every thread it woke: with another process on the other core, a one-row forward on two threads
    waited for a descheduled one (Adult, one connection, load 9 on 2 cores: p50 20 ms, against 3.1 ms on one
    thread). Batches of more than INLINE_ROWS rows run in the thread pool, several at once, across cores.
    `listening`: the socket `listening_socket` bound to host:port (else uvicorn binds it)."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(SERVE_THREADS)
    # What exists now (models, app, imported modules: about 400,000 objects for Adult) lives as long as the server:
    # kept out of the garbage collector's full passes, each of which stopped a request for about 0.24 s (once in
    # 5,000 one-row requests on Adult). Garbage from loading is collected first.
    gc.collect()
    gc.freeze()
    uvicorn.Server(server_config(app, host, port)).run(sockets=None if listening is None else [listening])


def server_config(app: FastAPI, host: str, port: int, head_seconds: float = HEAD_SECONDS) -> uvicorn.Config:
    """uvicorn's config with every wait on a client bounded: `head_seconds` for a request's head (uvicorn has
    no such limit: a client that connected and never finished its headers was held forever), BODY_SECONDS
    for its body (BodyLimit, in the app) and KEEP_ALIVE_SECONDS between requests."""
    def protocol(*args, **kwargs) -> HeadTimedProtocol:
        return HeadTimedProtocol(*args, head_seconds=head_seconds, **kwargs)

    return uvicorn.Config(app, host=host, port=port, log_level="warning", http=protocol,
                          timeout_keep_alive=KEEP_ALIVE_SECONDS)


class HeadTimedProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on httptools (llhttp, Node.js's parser; a bare app answered a one-row request in
    0.56 ms on it against 0.71 ms on h11's pure-Python parser, bench/serving.py), closing a connection whose request
    line and headers are not all in `head_seconds` after it opened or after the previous answer (slow-loris
    clients)."""

    def __init__(self, *args, head_seconds: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_seconds, self.head_deadline = head_seconds, None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._await_head()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._stop_waiting()  # the head is in: the request is answered, or queued behind the one being answered

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts a pipelined request whose head is in, if one is queued
        if self.cycle is None or self.cycle.response_complete:
            self._await_head()

    def connection_lost(self, exc) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self.head_deadline = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_too_slow(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


class JsonBodyRoute(APIRoute):
    """A route whose request body, if it has one, must be JSON: 415 naming the content type to send
    otherwise (FastAPI would read the bytes as a body and answer that they are "not a valid dictionary"),
    400 when arrays and objects nest deeper than MAX_NESTING (parsing, and each walk over the parsed body,
    recurses once a level and would stop with a RecursionError, a server error), and 422 naming the field
    when a string holds a lone surrogate (it would fail later, in pandas or pyarrow, as a server error)."""

    def get_route_handler(self):
        handle = super().get_route_handler()

        async def checked(request: Request):
            body = await request.body() if self.body_field is not None else b""
            if body:
                content_type = request.headers.get("content-type")
                if _media_type(content_type) != "json":
                    said = f"it said {content_type!r}" if content_type else "it had none"
                    return AsciiJSONResponse(status_code=415, content={
                        "error": f"send the body as JSON with the header 'Content-Type: application/json' ({said})"})
                # Fewer brackets than the limit cannot nest past it: most bodies skip the count.
                depth = _nesting(body) if body.count(b"[") + body.count(b"{") > MAX_NESTING else 0
                if depth > MAX_NESTING:
                    return AsciiJSONResponse(status_code=400, content={
                        "error": f"body nested too deeply: arrays and objects {depth} levels deep, at most "
                                 f"{MAX_NESTING} accepted"})
                try:
                    value = await request.json()  # kept on the request: FastAPI reads the same one
                except UnicodeDecodeError as error:
                    return AsciiJSONResponse(status_code=400, content={
                        "error": f"body (not valid JSON): byte {error.start} is not UTF-8; send JSON as UTF-8 text"})
                except ValueError as error:
                    if "integer string conversion" in str(error):  # Python's cap on a decimal integer's digits
                        return AsciiJSONResponse(status_code=400, content={
                            "error": f"body: a whole number of more than {sys.get_int_max_str_digits():,} digits; "
                                     "send numbers a float can hold (at most about 1.8e308)"})
                    return await handle(request)  # FastAPI's own answer (422 saying where) to a body that is not JSON
                # UTF-8 holds no surrogate: only a \u escape can make one, so a body without any needs no walk.
                where = _lone_surrogate(value) if b"\\u" in body else None
                if where is not None:
                    raise RequestValidationError([{
                        "type": "string_unicode", "loc": ("body", *where),
                        "msg": "holds a lone surrogate (half of a UTF-16 pair, e.g. \\ud800), which is not text; "
                               "send valid Unicode"}], body=value)
            return await handle(request)

        return checked


def _media_type(content_type: str | None) -> str | None:
    """'json' for application/json and application/*+json (parameters such as charset allowed), else None."""
    if not content_type:
        return None
    kind = content_type.split(";", 1)[0].strip().lower()
    return "json" if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")) else None


def _nesting(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON body, counting brackets outside strings, without parsing
    (an upper bound for a body that is not JSON, which is refused either way)."""
    brackets = np.frombuffer(JSON_STRING.sub(b"", body), dtype=np.uint8)
    step = np.isin(brackets, (ord("["), ord("{"))).astype(np.int64) - np.isin(brackets, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def _lone_surrogate(value, where: tuple = ()) -> tuple | None:
    """The location (keys and indices) of the first string, or key, in parsed JSON holding a lone surrogate."""
    if isinstance(value, str):
        return where if LONE_SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, inner in value.items():
            found = (*where, key) if LONE_SURROGATE.search(key) else _lone_surrogate(inner, (*where, key))
            if found is not None:
                return found
    if isinstance(value, list):
        for index, inner in enumerate(value):
            found = _lone_surrogate(inner, (*where, index))
            if found is not None:
                return found
    return None


class AsciiJSONResponse(JSONResponse):
    """JSON with every character past ASCII escaped, so an answer that echoes what a client sent (a field
    name in an error) can always be encoded, even a string holding a lone surrogate."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class Guard:
    """ASGI middleware: the bearer-token check (all paths but OPEN_PATHS) and request metrics.
    Plain ASGI rather than @app.middleware("http"), which costs milliseconds a request."""

    def __init__(self, app, token: str | None, metrics, known_paths: set[str]):
        self.app, self.token, self.metrics, self.known_paths = app, token, metrics, known_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def remember_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        path = scope["path"]
        try:
            if self.token is not None and path not in OPEN_PATHS and not _authorised(Request(scope), self.token):
                response = JSONResponse(status_code=401, headers={"WWW-Authenticate": "Bearer"}, content={
                    "error": "missing or wrong token: send the header 'Authorization: Bearer TOKEN'"})
                await response(scope, receive, remember_status)
            else:
                await self.app(scope, receive, remember_status)
        finally:
            label = path if path in self.known_paths else "other"  # bounded label values
            self.metrics.observe_request(label, status, time.perf_counter() - started)


class HeadAsGet:
    """ASGI middleware: a HEAD request is answered as the same GET is, headers (Content-Length included) without
    the body (RFC 9110, 9.3.2): load balancers and link checkers probe with HEAD, and FastAPI's routes answer only
    the methods they name. One place for every GET route; a route without GET answers 405 with its Allow header,
    as it answers a GET. A 405's Allow header that names GET names HEAD too, as every GET route now answers it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] != "HEAD":
            return await self.app(scope, receive, _allowing_head(send))

        async def without_body(message):
            await send({**message, "body": b""} if message["type"] == "http.response.body" else message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def _allowing_head(send):
    """`send` with HEAD added to a 405's Allow header where it names GET (Starlette lists the route's own methods)."""
    async def sending(message):
        if message["type"] == "http.response.start" and message["status"] == 405:
            headers = [(name, value + b", HEAD" if name.lower() == b"allow" and b"GET" in value.split(b", ")
                        and b"HEAD" not in value.split(b", ") else value) for name, value in message.get("headers", [])]
            message = {**message, "headers": headers}
        await send(message)
    return sending


class BodyLimit:
    """ASGI middleware: reads the body (chunked uploads included) up to `limit` bytes within `seconds`,
    and answers 413 past the size or 408 past the time, before any route sees the request; otherwise hands
    the body on, decompressed when it was sent gzip-compressed (serving.encoding: 413 past the same limit once
    decompressed, 415 for another Content-Encoding)."""

    def __init__(self, app, limit: int, seconds: float, raised: dict[str, tuple[int, str]] | None = None):
        """`raised`: path → (bytes, what to send instead) for routes whose requests need a larger body."""
        self.app, self.limit, self.seconds, self.raised = app, limit, seconds, raised or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, hint = self.raised.get(scope["path"], (self.limit, ""))
        try:
            if _declared_length(scope) > limit:  # no need to wait for a body the headers say is too large
                raise TooLarge
            body = await asyncio.wait_for(self._read(receive, limit), self.seconds)
            if body is not None:
                scope, body = decoded(scope, body, limit)
        except Refused as refusal:
            response = JSONResponse(status_code=refusal.status, content={
                "error": refusal.message + (f"; {hint}" if hint and refusal.status == 413 else "")})
            return await response(scope, receive, send)
        except TooLarge:
            response = JSONResponse(status_code=413, content={
                "error": f"request body over {limit:,} bytes" + (f"; {hint}" if hint else "")})
            return await response(scope, receive, send)
        except asyncio.TimeoutError:
            response = JSONResponse(status_code=408, headers={"Connection": "close"}, content={
                "error": f"request body not received within {self.seconds:g} s"})
            return await response(scope, receive, send)
        if body is None:  # the client left
            return None
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def _read(self, receive, limit: int) -> bytes | None:
        """The whole body, or None if the client disconnects first; TooLarge past `limit` bytes."""
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                raise TooLarge
        return body


def _declared_length(scope) -> int:
    """The request's Content-Length header, 0 when absent or unreadable (the body is then read and counted)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


class TooLarge(Exception):
    """A request body past the server's limit."""


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    offered = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("token", "")
    return hmac.compare_digest(offered.encode(), token.encode())


def _branch_errors(errors: list[dict], body) -> list[dict]:
    """A body is one record or a batch; report only the errors of the form the client meant: a batch when its
    "records" holds a list (a model may have an input column named records, sent as a value in a record)."""
    branch = "Batch" if isinstance(body, dict) and isinstance(body.get("records"), list) else "Record"
    kept = [e for e in errors if len(e["loc"]) > 1 and str(e["loc"][1]).endswith(branch)]
    return kept or errors


SHAPE_ERRORS = {"model_attributes_type", "model_type", "dict_type", "list_type"}  # a value of the wrong container


def _wrong_shape(errors: list[dict], body) -> bool:
    """Whether a parsed body has the wrong shape: no object or an empty one, a top-level field of the wrong
    container, or an object none of whose fields the request takes (a bare list, a misspelt {"rows": [...]}, a
    record where a task takes something else). A body of the right shape with a field missing, unknown or of a
    bad value is not: the problems name that field."""
    if any(error["type"] == "json_invalid" for error in errors):
        return False
    if not isinstance(body, dict) or not body:
        return True
    top = [error for error in errors if "." not in _where(error)]
    if any(error["type"] in SHAPE_ERRORS for error in top):
        return True
    unknown = {_where(error) for error in top if error["type"] == "extra_forbidden"}
    return set(map(str, body)) <= unknown


def _where(error: dict) -> str:
    """('body', 'AdultRecord', 'age') → 'age'; ('body', 'AdultBatch', 'records', 3, 'age') → 'records.3.age'."""
    location = [str(p) for p in error["loc"]]
    if error["type"] == "json_invalid":
        return "body (not valid JSON)"
    if len(location) > 1 and location[1].endswith(("Record", "Batch")):
        location = location[2:]
    else:
        location = location[1:]
    return ".".join(location) or "body"


# An error answer lists this many problems at most, and says how many more there were: a body of 60,000 unknown
# fields drew a 5 MB answer, one line each.
LISTED_PROBLEMS = 10
# Characters at most of an answer's error text, and of each listed problem: a message quoting a 900 kB value sent it
# back twice, in the error and in the detail.
ERROR_CHARACTERS, PROBLEM_CHARACTERS = 2_000, 400


def _capped(text: str, limit: int = ERROR_CHARACTERS) -> str:
    """`text`, cut to `limit` characters with a note saying so."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} characters more not shown)"


def _safe_errors(errors: list[dict]) -> list[dict]:
    """Validation errors without the echoed input (it may be large or sensitive)."""
    return [{"field": _where(e), "msg": _capped(e["msg"], PROBLEM_CHARACTERS), "type": e["type"]} for e in errors]
