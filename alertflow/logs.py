"""Logging for alertflow's processes: one line per event, UTC timestamps, as text or as JSON.

``log_format: json`` (settings) makes ``alertflow api`` and ``alertflow worker``
write one JSON object per line, for a log pipeline to parse without a regex:
``time``, ``level``, ``logger``, ``message`` and, where known, ``incident_id``,
``flow_run_id`` and ``fingerprint`` (an alert's), plus ``exception``. Those
fields come from the record (``log.info(..., extra={"incident_id": 5})``,
Prefect's run loggers carry ``flow_run_id``), else from ``log_context`` (a
context variable, so each asyncio task keeps its own), else, inside a flow
run, from Prefect's run context. In JSON mode every handler that writes to the
terminal is given the JSON format, Prefect's and uvicorn's included, so no
plain line slips into the stream; handlers that write elsewhere (Prefect's
API log handler, files, pytest's capture) are left alone.

Settings objects print secrets as ``**********`` (``SecretStr``), and no module
logs request headers or bodies, so secrets do not reach these lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Literal

FIELDS = ("incident_id", "flow_run_id", "fingerprint")
_context: ContextVar[dict[str, Any]] = ContextVar("alertflow_log_context", default={})  # noqa: B039 (never mutated)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Fields every line logged inside this block carries (JSON format), unless the line sets its own."""
    token = _context.set({**_context.get(), **{name: value for name, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def _from_prefect_run() -> dict[str, Any]:
    """The flow run this line was logged in, if Prefect is loaded and one is running (no Prefect import here)."""
    context = sys.modules.get("prefect.context")
    run = getattr(context.FlowRunContext.get(), "flow_run", None) if context is not None else None
    if run is None:
        return {}
    return {"flow_run_id": str(run.id), "incident_id": (run.parameters or {}).get("incident_id")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, timezone.utc)
        line: dict[str, Any] = {
            "time": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get()
        run: dict[str, Any] | None = None
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = context.get(name)
            if value is None and name != "fingerprint":
                run = _from_prefect_run() if run is None else run
                value = run.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def text_formatter() -> logging.Formatter:
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    return formatter


def configure_logging(level: int = logging.INFO, fmt: Literal["text", "json"] = "text") -> None:
    """alertflow's loggers at ``level`` on stderr; in JSON, every terminal handler of the process too."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else text_formatter())
    root = logging.getLogger("alertflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    if fmt == "json":
        logging.captureWarnings(True)  # Python's warnings too, as records of py.warnings, not bare lines
        loggers = [logging.getLogger(), *(x for x in logging.Logger.manager.loggerDict.values() if isinstance(x, logging.Logger))]
        for logger in loggers:
            if logger is not root and any(_to_terminal(h) for h in logger.handlers):
                logger.handlers[:] = [h for h in logger.handlers if not _to_terminal(h)] + [handler]


def _to_terminal(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (sys.stderr, sys.stdout)
