"""A storm in the timeline: past the first few alerts a minute, one entry per incident, status and minute.

Why: the timeline is for people. A fault of 100,000 alerts used to write
100,000 "alert ... firing" entries, so the incident took 58 MB to fetch and
300,000 lines to show, and the rule match, the pages and the failover drowned
in them. The alerts themselves stay one row each in ``incident_alerts`` (what
the engine and a replay need); only their timeline entries are folded here.

Per incident, status (firing, resolved) and minute of arrival, the first
``SHOWN`` alerts get their own entry, so a quiet incident reads as before.
Further ones are counted into one entry for that minute, written once and
updated at the end of each batch: "12,000 alerts joined between 10:02:00 and
10:02:59 (12,000 distinct instance); first: ...". The folds live in memory
and are written in the pipeline's transaction; if it fails they are dropped
with the engine's state (``reset``), and after a restart a minute already
folded starts a second fold: bounded either way, never wrong about counts
already written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alertflow.models import Alert, TimelineEntry, TimelineKind
from alertflow.store.tx import Tx

SHOWN = 10  # alerts per incident, status and minute with their own entry
LISTED = 5  # alerts a folded entry names
DISTINCT_CAP = 10_000  # distinct values counted per label (memory stays small); beyond, the count says "at least"
WINDOW = timedelta(minutes=1)
VERB = {"firing": "joined", "resolved": "resolved"}


@dataclass
class Fold:
    """The alerts of one incident, status and minute past the first ``SHOWN``, as one entry."""

    incident_id: int
    status: str
    first_at: datetime
    last_at: datetime
    count: int = 0
    listed: list[tuple[str, str]] = field(default_factory=list)  # (fingerprint, "name instance")
    values: dict[str, set[str]] = field(default_factory=dict)  # label -> distinct values seen
    row_id: int | None = None  # the timeline row, once written
    changed: bool = True

    def add(self, alert: Alert) -> None:
        self.count += 1
        self.first_at, self.last_at = min(self.first_at, alert.received_at), max(self.last_at, alert.received_at)
        if len(self.listed) < LISTED:
            self.listed.append((alert.fingerprint, f"{alert.name} {alert.labels.get('instance', alert.fingerprint)}"))
        for label, value in alert.labels.items():
            seen = self.values.setdefault(label, set())
            if len(seen) < DISTINCT_CAP:
                seen.add(value)
        self.changed = True

    def entry(self) -> TimelineEntry:
        distinct = {label: len(seen) for label, seen in self.values.items() if len(seen) > 1}
        varying = ", ".join(f"{n:,}{'+' if n >= DISTINCT_CAP else ''} distinct {label}" for label, n in sorted(distinct.items()))
        first = ", ".join(name for _, name in self.listed) + (", ..." if self.count > len(self.listed) else "")
        summary = (
            f"{self.count:,} more alert{'s' if self.count != 1 else ''} {VERB.get(self.status, self.status)} between "
            f"{self.first_at:%H:%M:%S} and {self.last_at:%H:%M:%S}{f' ({varying})' if varying else ''}; first: {first}"
        )
        data: dict[str, Any] = {
            "folded": self.count, "status": self.status, "first_at": self.first_at.isoformat(), "last_at": self.last_at.isoformat(),
            "distinct": distinct, "first": [fingerprint for fingerprint, _ in self.listed],
        }  # fmt: skip
        return TimelineEntry(incident_id=self.incident_id, at=self.first_at, kind=TimelineKind.alert, summary=summary, data=data)


@dataclass
class Minute:
    """How many alerts of one incident and status this minute had their own entry, and the fold after them."""

    start: datetime
    shown: int = 0
    fold: Fold | None = None


class StormFolds:
    """Decides, alert by alert, whether a joining alert gets its own timeline entry or is folded."""

    def __init__(self) -> None:
        self.minutes: dict[tuple[int, str], Minute] = {}  # only the latest minute per incident and status
        self.ended: set[int] = set()  # incidents resolved in this batch: forgotten once their folds are written

    def fold(self, incident_id: int, alert: Alert) -> bool:
        """True when ``alert`` was folded; False when it should get its own entry."""
        key = (incident_id, alert.status.value)
        minute = self.minutes.get(key)
        if minute is None or alert.received_at >= minute.start + WINDOW:
            at = alert.received_at
            minute = self.minutes[key] = Minute(at.replace(second=0, microsecond=0))
        if minute.shown < SHOWN:
            minute.shown += 1
            return False
        if minute.fold is None:
            minute.fold = Fold(incident_id, alert.status.value, alert.received_at, alert.received_at)
        minute.fold.add(alert)
        return True

    def pending(self) -> bool:
        """Whether ``write`` has anything to write."""
        return bool(self.ended) or any(m.fold is not None and m.fold.changed for m in self.minutes.values())

    def forget(self, incident_id: int) -> None:
        """The incident resolved: its minutes end with it, after ``write`` saved what this batch folded."""
        self.ended.add(incident_id)

    def reset(self) -> None:
        """The transaction failed: what was folded in it was never written."""
        self.minutes.clear()
        self.ended.clear()

    async def write(self, tx: Tx) -> None:
        """Insert or update the entry of every fold that changed in this batch: one statement each."""
        for minute in self.minutes.values():
            fold = minute.fold
            if fold is None or not fold.changed:
                continue
            if fold.row_id is None:
                fold.row_id = await tx.add_timeline_entry(fold.entry())
            else:
                entry = fold.entry()
                await tx.update_timeline_entry(fold.row_id, entry.summary, entry.data)
            fold.changed = False
        for key in [key for key in self.minutes if key[0] in self.ended]:
            del self.minutes[key]
        self.ended.clear()
