"""The rule engine: a pure function of (state, event, time) returning decisions.

No I/O and no Prefect: the pipeline stores what the engine decides (and the
state it changed: ``changes()``), the dispatcher acts on it. Time is a
parameter: ``process(alert, now)`` for alerts and ``tick(now)`` for timers
(group waits, quiet periods, windows, silences ending, missing heartbeats), so
tests drive a fake clock and a replay drives the recorded one.

An alert goes through, in order: heartbeats it satisfies; the incident it
already belongs to (a resend changes nothing); suppression (silence,
maintenance window, inhibition: stored, no action); the first matching rule;
that rule's group, which may be pending (its pattern is not complete), open,
resolving (quiet period) or recently resolved (``reopen_within``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from alertflow.models import Alert, AlertStatus, Silence
from alertflow.rules.decision import Decision, DecisionKind
from alertflow.rules.groups import GroupLogic
from alertflow.rules.index import RuleIndex
from alertflow.rules.inhibition import Placement, Sources
from alertflow.rules.matchers import match_all
from alertflow.rules.schema import RuleSet
from alertflow.rules.state import Group, HeartbeatState, Member, Suppressed
from alertflow.rules.suppression import ActiveSilence

K = DecisionKind


class Engine(GroupLogic):
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        for rule in ruleset.rules:
            rule.prepare()
        self.index = RuleIndex(ruleset.rules)
        self.rules = {rule.id: rule for rule in ruleset.rules}
        self.groups: dict[str, Group] = {}
        self.key_of: dict[str, str] = {}  # fingerprint -> key of the group it is a member of
        self.suppressed: dict[str, Suppressed] = {}
        self.heartbeats: dict[str, HeartbeatState] = {}
        self.sources = Sources(ruleset.inhibit_rules)
        self.loose_sources: dict[str, list[Placement]] = {}  # firing alerts no rule accepts that still inhibit others
        self.silences: list[ActiveSilence] = []
        self.dirty: set[tuple[str, str]] = set()

    # -- state ------------------------------------------------------------------

    def changes(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """Rows to write since the last call: (kind, key, state), state None = delete."""
        rows = [(kind, key, self._state_of(kind, key)) for kind, key in sorted(self.dirty)]
        self.dirty.clear()
        return rows

    def _state_of(self, kind: str, key: str) -> dict[str, Any] | None:
        if kind == "group":
            return self.groups[key].to_state() if key in self.groups else None
        if kind == "member":
            group_key, fingerprint = key.split("\x1f", 1)
            member = self.groups[group_key].members.get(fingerprint) if group_key in self.groups else None
            return member.to_state() if member else None
        if kind == "source":
            placed = self.loose_sources.get(key)
            return {"placements": [[i, list(v), t] for i, v, t in placed]} if placed is not None else None
        found = self.suppressed.get(key) if kind == "suppressed" else self.heartbeats.get(key)
        return found.to_state() if found else None

    def restore(self, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Rebuild from the rows ``changes()`` produced (groups before their members)."""
        self.__init__(self.ruleset)  # type: ignore[misc]
        members = []
        for kind, key, state in rows:
            if kind == "group":
                self.groups[key] = Group.from_state(key, state)
            elif kind == "member":
                members.append((key, state))
            elif kind == "suppressed":
                suppressed = self.suppressed[key] = Suppressed.from_state(state)
                self.sources.add(suppressed.alert)
            elif kind == "source":
                placed = self.loose_sources[key] = [(i, tuple(v), t) for i, v, t in state["placements"]]
                self.sources.restore(key, placed)
            else:
                self.heartbeats[key] = HeartbeatState.from_state(state)
        for key, state in members:
            group_key, fingerprint = key.split("\x1f", 1)
            if group_key in self.groups:
                member = self.groups[group_key].members[fingerprint] = Member.from_state(state)
                self.key_of[fingerprint] = group_key
                if member.firing:
                    self.sources.restore(fingerprint, member.sources)

    def set_silences(self, silences: Iterable[Silence]) -> None:
        self.silences = [ActiveSilence.of(silence) for silence in silences]

    def bind(self, key: str, ref: int) -> None:
        """The pipeline stored the incident of ``key`` under id ``ref``."""
        self.groups[key].ref = ref
        self.dirty.add(("group", key))

    def forget(self, key: str, now: datetime) -> list[Decision]:
        """A person resolved the incident: it resolves here too (and may reopen). Alerts it inhibited
        are evaluated again, so the decisions must be written like any others."""
        out: list[Decision] = []
        group = self.groups.get(key)
        if group and group.phase.value in ("open", "resolving"):
            self.resolve(group, now, "resolved by a person", out)
        return [d for d in out if d.kind is not K.resolve]

    # -- events -----------------------------------------------------------------

    def process(self, alert: Alert, now: datetime) -> list[Decision]:
        """Decide what one alert means."""
        out: list[Decision] = []
        if alert.status is AlertStatus.firing:
            self._firing(alert, now, out)
        else:
            self._resolved(alert, now, out)
        return out

    def _firing(self, alert: Alert, now: datetime, out: list[Decision]) -> None:
        if self.ruleset.heartbeats:
            self._heartbeat_seen(alert, now, out)
        key = self.key_of.get(alert.fingerprint)
        if key is not None:
            self.refire(self.groups[key], alert, now, out)
            return
        if alert.fingerprint in self.suppressed:
            return  # a resend of a suppressed alert; the tick looks at it when its suppression ends
        if self.silences or self.ruleset.maintenance_windows or self.sources.rules:  # else nothing can suppress it
            suppression = self._suppression(alert, now)
            if suppression is not None:
                self._suppress(alert, suppression, out)
                return
        rule = self.index.match(alert.labels, alert.severity)
        if rule is None:
            if self.sources.rules and alert.fingerprint not in self.loose_sources:
                placed = self.sources.add(alert)  # e.g. an "InfoInhibitor" routed nowhere still inhibits
                if placed:
                    self.loose_sources[alert.fingerprint] = placed
                    self.dirty.add(("source", alert.fingerprint))
            out.append(Decision(K.unmatched, alert.fingerprint, "no rule matched", alert=alert))
            return
        self.join(rule, alert, now, out)

    def _resolved(self, alert: Alert, now: datetime, out: list[Decision]) -> None:
        fingerprint = alert.fingerprint
        if fingerprint in self.suppressed:
            suppressed = self.suppressed.pop(fingerprint)
            self.dirty.add(("suppressed", fingerprint))
            self.sources.remove(fingerprint, self.sources.placements(suppressed.alert))
            self._release_targets(fingerprint, now, out)
            return
        key = self.key_of.get(fingerprint)
        if key is None:
            if fingerprint in self.loose_sources:
                self.sources.remove(fingerprint, self.loose_sources.pop(fingerprint))
                self.dirty.add(("source", fingerprint))
                self._release_targets(fingerprint, now, out)
            out.append(Decision(K.unmatched, fingerprint, "resolved alert of no open incident", alert=alert))
            return
        self.resolve_member(self.groups[key], alert, now, out)

    # -- suppression ------------------------------------------------------------

    def _suppression(self, alert: Alert, now: datetime) -> tuple[str, str, str | None] | None:
        """(kind, reason, inhibiting fingerprint) when the alert must start no action."""
        for silence in self.silences:
            if silence.covers(alert.labels, now):
                return "silence", f"silenced by silence {silence.id} ({silence.author}) until {silence.ends_at.isoformat()}", None
        for window in self.ruleset.maintenance_windows:
            if window.covers(alert.labels, now):
                return "maintenance", f"in maintenance window {window.name}", None
        source = self.sources.inhibitor(alert) if self.sources.rules else None
        if source is not None:
            return "inhibited", f"inhibited by alert {source}", source
        return None

    def _suppress(self, alert: Alert, suppression: tuple[str, str, str | None], out: list[Decision]) -> None:
        kind, reason, source = suppression
        self.suppressed[alert.fingerprint] = Suppressed(alert, kind, reason, source)
        self.dirty.add(("suppressed", alert.fingerprint))
        self.sources.add(alert)  # a silenced alert still inhibits, as in Alertmanager
        related = self.key_of.get(source) if source else None
        out.append(Decision(K.suppressed, alert.fingerprint, reason, key=None, related_key=related, alert=alert))

    def _release_targets(self, source: str, now: datetime, out: list[Decision]) -> None:
        """A source stopped firing: alerts it inhibited are evaluated again."""
        for fingerprint, suppressed in list(self.suppressed.items()):
            if suppressed.source == source:
                self._reevaluate(fingerprint, now, out)

    def _reevaluate(self, fingerprint: str, now: datetime, out: list[Decision]) -> None:
        suppressed = self.suppressed.pop(fingerprint)
        self.dirty.add(("suppressed", fingerprint))
        self.sources.remove(fingerprint, self.sources.placements(suppressed.alert))
        self._firing(suppressed.alert, now, out)

    # -- heartbeats -------------------------------------------------------------

    def _heartbeat_seen(self, alert: Alert, now: datetime, out: list[Decision]) -> None:
        for heartbeat in self.ruleset.heartbeats:
            if not match_all(heartbeat.matchers, alert.labels):
                continue
            labels = heartbeat.group_labels(alert.labels)
            key = heartbeat.id + "\x1f" + "|".join(f"{k}={v}" for k, v in sorted(labels.items()))
            state = self.heartbeats.get(key)
            if state is not None and state.raised:
                cleared = heartbeat.synthetic(labels, AlertStatus.resolved, now, state.last_seen)
                out.append(Decision(K.synthetic, cleared.fingerprint, f"heartbeat {heartbeat.id} seen again", alert=cleared))
                self._resolved(cleared, now, out)
            self.heartbeats[key] = HeartbeatState(heartbeat.id, labels, now)
            self.dirty.add(("heartbeat", key))

    def _missing_heartbeats(self, now: datetime, out: list[Decision]) -> None:
        for heartbeat in self.ruleset.heartbeats:
            if not heartbeat.group_by:  # one heartbeat expected from the start: count from the first tick
                key = heartbeat.id + "\x1f"
                if key not in self.heartbeats:
                    self.heartbeats[key] = HeartbeatState(heartbeat.id, {}, now)
                    self.dirty.add(("heartbeat", key))
        by_id = {heartbeat.id: heartbeat for heartbeat in self.ruleset.heartbeats}
        for key, state in self.heartbeats.items():
            heartbeat = by_id.get(state.heartbeat_id)
            if heartbeat is None or state.raised or now - state.last_seen < heartbeat.missing_after:
                continue
            state.raised = True
            self.dirty.add(("heartbeat", key))
            missing = heartbeat.synthetic(state.labels, AlertStatus.firing, now, state.last_seen)
            out.append(
                Decision(
                    K.synthetic, missing.fingerprint, f"heartbeat {heartbeat.id} missing since {state.last_seen.isoformat()}", alert=missing
                )
            )
            self._firing(missing, now, out)

    # -- timers -----------------------------------------------------------------

    def tick(self, now: datetime) -> list[Decision]:
        """Fire every timer due at ``now``."""
        out: list[Decision] = []
        for group in list(self.groups.values()):
            self.run_timers(group, now, out)
        for fingerprint, suppressed in list(self.suppressed.items()):
            if fingerprint in self.suppressed and suppressed.kind != "inhibited" and self._suppression(suppressed.alert, now) is None:
                self._reevaluate(fingerprint, now, out)
        if self.ruleset.heartbeats:
            self._missing_heartbeats(now, out)
        return out
