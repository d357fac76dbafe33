"""What every source's parser shares: typed validation that names the bad field, and stable identities.

Each vendor's payload is validated by its own pydantic model; a refusal is an
``InputError`` whose ``field`` is the dotted path of the first problem, so the
4xx tells the sender exactly what to fix. Alerts without a vendor id get a
fingerprint hashed from what identifies them, so resends dedupe.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from alertflow.errors import InputError

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], payload: Any, prefix: str = "") -> M:
    """``model`` validated from ``payload``, or ``InputError`` naming the first bad field (under ``prefix``)."""
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        path = _in_document(payload, first["loc"], missing=first["type"] == "missing")
        field = ".".join(str(part) for part in (*([prefix] if prefix else []), *path)) or "body"
        raise InputError(f"{field}: {first['msg'].removeprefix('Value error, ')}", field=field) from None


def _in_document(document: Any, loc: tuple[int | str, ...], missing: bool) -> list[int | str]:
    """The part of pydantic's error location that is a path in ``document``: without the union
    member names it appends (``tags.str``), with the key itself when the key is missing."""
    path: list[int | str] = []
    for part in loc:
        if isinstance(document, dict):
            inside = part in document
        else:
            inside = isinstance(document, list) and isinstance(part, int) and part < len(document)
        if not inside:
            return [*path, part] if missing and len(path) == len(loc) - 1 else path
        path.append(part)
        document = document[part]
    return path


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable identity for an alert without the sender's own fingerprint."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


MAX_FINGERPRINT = 128  # the inbox column's width


def fit_fingerprint(value: str) -> str:
    """A sender's id as a fingerprint: itself when it fits, else a hash of it (same id, same hash)."""
    return value if len(value) <= MAX_FINGERPRINT else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def scalar_text(value: Any) -> str:
    """A label or annotation value as text: numbers and booleans as JSON writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def json_text(value: Any) -> str:
    """Any JSON value as text: objects and lists as their JSON, scalars as ``scalar_text``."""
    return orjson.dumps(value).decode() if isinstance(value, (dict, list)) else scalar_text(value)
