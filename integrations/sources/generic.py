"""Any JSON sender, through a field mapping written in the config file instead of code.

For tools with no source of their own (a cron job's curl, Zabbix, Uptime Kuma,
a homegrown checker), the config names where each field lives as a dotted path
(``data.alert.name``, ``items.0.host``). ``alerts`` names a list when one body
carries several alerts; each path is then read inside each element. ``status``
is firing unless its value is one of ``resolved_values``. Missing optional
fields get defaults; a missing ``name`` is a 422 naming the path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from alertflow.config.sources import FieldMapping
from alertflow.errors import InputError
from alertflow.integrations.sources.payloads import fit_fingerprint, json_text, label_fingerprint, scalar_text
from alertflow.models import Alert, AlertStatus, Severity

_MISSING = object()
_TIME = TypeAdapter(AwareDatetime)


def lookup(document: Any, path: str) -> Any:
    """The value at dotted ``path`` (list items by index), or ``_MISSING``."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


class GenericSource:
    def __init__(self, name: str, mapping: FieldMapping) -> None:
        self.name = name
        self.mapping = mapping
        self.resolved_values = {value.lower() for value in mapping.resolved_values}

    def parse(self, payload: Any, received_at: datetime) -> list[Alert]:
        items: Any = [payload]
        where = ""
        if self.mapping.alerts:
            items = lookup(payload, self.mapping.alerts)
            if not isinstance(items, list) or not items:
                raise InputError(f"{self.mapping.alerts}: expected a non-empty list of alerts", field=self.mapping.alerts)
            where = f"{self.mapping.alerts}."
        return [self._alert(item, f"{where}{n}." if where else "", received_at) for n, item in enumerate(items)]

    def _text(self, item: Any, path: str | None, prefix: str, default: str = "") -> str:
        if path is None:
            return default
        value = lookup(item, path)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, (dict, list)):
            raise InputError(f"{prefix}{path}: expected text or a number, got {type(value).__name__}", field=f"{prefix}{path}")
        return scalar_text(value)

    def _alert(self, item: Any, prefix: str, received_at: datetime) -> Alert:
        m = self.mapping
        if not isinstance(item, dict):
            where = prefix.rstrip(".") or "body"
            raise InputError(f"{where}: expected a JSON object", field=where)
        name = self._text(item, m.name, prefix)
        if not name:
            raise InputError(f"{prefix}{m.name}: the alert name is missing or empty", field=f"{prefix}{m.name}")
        labels = self._labels(item, prefix)
        labels["alertname"] = name
        status = self._text(item, m.status, prefix, "firing").strip().lower()
        resolved = status in self.resolved_values
        fingerprint = fit_fingerprint(self._text(item, m.fingerprint, prefix))
        summary = self._text(item, m.summary, prefix)
        return Alert(
            source=self.name,
            fingerprint=fingerprint or label_fingerprint(labels),
            name=name,
            service=self._text(item, m.service, prefix) or labels.get("service") or "unknown",
            severity=Severity.parse(self._text(item, m.severity, prefix) or labels.get("severity")),
            status=AlertStatus.resolved if resolved else AlertStatus.firing,
            labels=labels,
            annotations={"summary": summary} if summary else {},
            starts_at=self._time(item, prefix) or received_at,
            ends_at=received_at if resolved else None,
            received_at=received_at,
            raw=item,
        )

    def _labels(self, item: Any, prefix: str) -> dict[str, str]:
        if self.mapping.labels is None:
            return {}
        value = lookup(item, self.mapping.labels)
        if value is _MISSING or value is None:
            return {}
        if not isinstance(value, dict):
            raise InputError(f"{prefix}{self.mapping.labels}: expected an object of labels", field=f"{prefix}{self.mapping.labels}")
        return {str(k): json_text(v) for k, v in value.items() if v is not None}

    def _time(self, item: Any, prefix: str) -> datetime | None:
        text = self._text(item, self.mapping.starts_at, prefix)
        if not text:
            return None
        try:
            return _TIME.validate_python(text)
        except ValidationError:
            path = f"{prefix}{self.mapping.starts_at}"
            raise InputError(f"{path}: {text[:40]!r} is not an ISO-8601 time with a time zone", field=path) from None
