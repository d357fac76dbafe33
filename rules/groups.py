"""An incident key's life: pending → open ⇄ resolving → resolved (→ reopened or gone).

The Engine's group handling, kept apart from its entry points (engine.py) only
to keep both readable. A group is *pending* while its rule's pattern (threshold,
sequence) is incomplete; *open* once it is an incident; *resolving* while a
quiet period runs after its last alert resolved (``resolve_after``, or a
flapping window); *resolved* while ``reopen_within`` could still bring it back.
Actions run at open (or after ``group_wait``), and again when the incident's
severity first reaches an action's ``min_severity``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from alertflow.durations import format_duration
from alertflow.models import Action, Alert
from alertflow.rules.decision import Decision, DecisionKind
from alertflow.rules.matchers import match_all
from alertflow.rules.schema import FlappingPattern, Rule, SequencePattern, ThresholdPattern
from alertflow.rules.state import Group, Member, Phase

if TYPE_CHECKING:
    from alertflow.rules.inhibition import Sources

K = DecisionKind


class GroupLogic:
    rules: dict[str, Rule]
    groups: dict[str, Group]
    key_of: dict[str, str]
    sources: Sources
    dirty: set[tuple[str, str]]

    def _release_targets(self, source: str, now: datetime, out: list[Decision]) -> None: ...

    def rule_of(self, group: Group) -> Rule:
        return self.rules.get(group.rule_id) or Rule(id=group.rule_id, description="a rule no longer in the rules file")

    def join(self, rule: Rule, alert: Alert, now: datetime, out: list[Decision]) -> None:
        """A firing alert, not yet in any group, that ``rule`` accepts."""
        key = rule.incident_key(alert.labels)
        group = self.groups.get(key)
        if group is not None and group.phase is Phase.resolved:
            if group.resolved_at is not None and now - group.resolved_at <= rule.reopen_within:
                self._add(group, alert, now)
                self._start(
                    group, rule, alert, now, out, K.reopen, f"fired again within {format_duration(rule.reopen_within)} of resolving"
                )
                return
            self._drop(group)
            group = None
        if group is None:
            phase = Phase.pending if rule.waits_for_pattern else Phase.open
            group = self.groups[key] = Group(key, rule.id, phase, alert.summary, alert.service, alert.severity, now)
            self._add(group, alert, now)
            if phase is Phase.open:
                self._start(group, rule, alert, now, out, K.open, rule.matched_reason)
                return
        else:
            self._add(group, alert, now)
        if group.phase is Phase.pending:
            self._advance(group, rule, alert, now, out)
        else:
            self._joined(group, rule, alert, now, out, f"joins incident {key}")

    def refire(self, group: Group, alert: Alert, now: datetime, out: list[Decision]) -> None:
        """A firing alert already in ``group``: a resend, or an alert that resolved and fires again."""
        member = group.members[alert.fingerprint]
        group.last_heard = now
        self._promise(group, alert)
        self.dirty.add(("group", group.key))
        if member.firing:
            if group.phase is Phase.pending:  # windows count alerts seen within them: a resend keeps it counted
                member.seen = now
                self._touch(group, alert.fingerprint)
                if isinstance(self.rule_of(group).pattern, ThresholdPattern):
                    self._advance(group, self.rule_of(group), alert, now, out, announce=False)
            return
        member.firing, member.seen, member.sources = True, now, self.sources.add(alert)
        self._touch(group, alert.fingerprint)
        rule = self.rule_of(group)
        self._transition(group, rule, alert, now, out)
        self._joined(group, rule, alert, now, out, f"fires again in incident {group.key}")

    def resolve_member(self, group: Group, alert: Alert, now: datetime, out: list[Decision]) -> None:
        member = group.members[alert.fingerprint]
        group.last_heard = now
        self.dirty.add(("group", group.key))
        if not member.firing:
            return
        member.firing = False
        self.sources.remove(alert.fingerprint, member.sources)
        member.sources = []
        self._touch(group, alert.fingerprint)
        self._release_targets(alert.fingerprint, now, out)
        rule = self.rule_of(group)
        if group.phase is Phase.pending:  # windows count firing alerts only
            self._remove(group, alert.fingerprint)
            if not group.members:
                self._drop(group)
            return
        out.append(Decision(K.alert_resolved, alert.fingerprint, f"{alert.name} resolved", group.key, alert=alert))
        self._transition(group, rule, alert, now, out)
        self._severity(group, rule, alert, now, out)
        if group.phase is Phase.open and not group.firing():
            quiet = rule.quiet_period()
            if quiet > timedelta(0):
                group.phase, group.resolve_due_at = Phase.resolving, now + quiet
                reason = f"every alert resolved; the incident resolves after {format_duration(quiet)} unless one fires again"
                out.append(Decision(K.resolving, alert.fingerprint, reason, group.key, alert=alert))
            else:
                self.resolve(group, now, "every alert of the incident resolved", out, alert)

    def resolve(self, group: Group, now: datetime, reason: str, out: list[Decision], alert: Alert | None = None) -> None:
        released = []
        for fingerprint, member in list(group.members.items()):
            if member.firing:
                self.sources.remove(fingerprint, member.sources)
                released.append(fingerprint)
            self._remove(group, fingerprint)
        group.phase, group.resolved_at, group.resolve_due_at, group.actions_due_at = Phase.resolved, now, None, None
        group.expires_at, group.never_expires = None, False
        self.dirty.add(("group", group.key))
        out.append(Decision(K.resolve, alert.fingerprint if alert else "", reason, group.key, group.rule_id, alert=alert))
        if self.rule_of(group).reopen_within <= timedelta(0):
            self._drop(group)
        for fingerprint in released:  # alerts they inhibited are evaluated again
            self._release_targets(fingerprint, now, out)

    def run_timers(self, group: Group, now: datetime, out: list[Decision]) -> None:
        rule = self.rule_of(group)
        if group.phase is Phase.pending:
            self._prune(group, rule, now, out)
        elif group.phase is Phase.open and group.actions_due_at is not None and now >= group.actions_due_at:
            group.actions_due_at = None
            self.dirty.add(("group", group.key))
            due = self._due(group, rule)
            if due:
                reason = f"group_wait {format_duration(rule.group_wait)} over: {len(group.members)} alerts in the incident"
                out.append(Decision(K.act, "", reason, group.key, group.rule_id, actions=due))
        if group.phase is Phase.resolving and group.resolve_due_at is not None and now >= group.resolve_due_at:
            self.resolve(group, now, f"quiet for {format_duration(rule.quiet_period())} after every alert resolved", out)
        elif group.phase in (Phase.open, Phase.resolving) and rule.auto_resolve_after and now - group.last_heard >= rule.auto_resolve_after:
            self.resolve(group, now, f"nothing heard for {format_duration(rule.auto_resolve_after)}", out)
        elif group.phase in (Phase.open, Phase.resolving) and group.expires_at is not None and now >= group.expires_at:
            self.resolve(group, now, "no resend before the alerts' endsAt: their sender stopped sending them", out)
        elif group.phase is Phase.resolved and group.resolved_at is not None and now - group.resolved_at > rule.reopen_within:
            self._drop(group)

    # -- inside a group ---------------------------------------------------------

    def _start(self, group: Group, rule: Rule, alert: Alert, now: datetime, out: list[Decision], kind: DecisionKind, reason: str) -> None:
        """Open (or reopen) the incident; its actions run now, or after group_wait."""
        group.phase, group.resolved_at, group.resolve_due_at = Phase.open, None, None
        group.actions_done.clear()
        group.severity = group.highest_firing() or alert.severity
        actions: tuple[Action, ...] = ()
        if rule.group_wait:
            group.actions_due_at = now + rule.group_wait
            reason += f"; actions wait {format_duration(rule.group_wait)} for more alerts"
        else:
            actions = self._due(group, rule)
        others: tuple[tuple[str, str], ...] = ()  # usually the alert opening the incident is its only one
        if len(group.members) > 1:
            others = tuple((fp, m.name) for fp, m in group.members.items() if fp != alert.fingerprint and m.firing)
        self.dirty.add(("group", group.key))
        out.append(Decision(kind, alert.fingerprint, reason, group.key, rule.id, group.title, group.service, group.severity,
                            actions, alert=alert, members=others))  # fmt: skip

    def _joined(self, group: Group, rule: Rule, alert: Alert, now: datetime, out: list[Decision], reason: str) -> None:
        out.append(Decision(K.attach, alert.fingerprint, reason, group.key, alert=alert))
        if group.phase is Phase.resolving:
            group.phase, group.resolve_due_at = Phase.open, None
        self._severity(group, rule, alert, now, out)

    def _advance(self, group: Group, rule: Rule, alert: Alert, now: datetime, out: list[Decision], announce: bool = True) -> None:
        """A pending group got an alert (or a resend, not ``announce``d): is its pattern complete?"""
        pattern = rule.pattern
        if isinstance(pattern, ThresholdPattern):
            counted = [m.name for m in group.members.values() if m.firing and now - m.seen <= pattern.within]
            progress = f"{len(counted)} of {pattern.count} alerts within {format_duration(pattern.within)}"
            done = len(counted) >= pattern.count
        else:
            assert isinstance(pattern, SequencePattern)
            if group.sequence_started is not None and now - group.sequence_started > pattern.within:
                group.sequence_started, group.sequence_step = None, 0
            steps = pattern.steps
            if match_all(steps[group.sequence_step], alert.labels):
                group.sequence_started = group.sequence_started or now
                group.sequence_step += 1
            elif match_all(steps[0], alert.labels):
                group.sequence_started, group.sequence_step = now, 1
            progress = f"step {group.sequence_step} of {len(steps)} within {format_duration(pattern.within)}"
            done = group.sequence_step == len(steps)
        self.dirty.add(("group", group.key))
        if done:
            self._start(group, rule, alert, now, out, K.open, f"{rule.matched_reason}; {progress}")
        elif announce:
            out.append(Decision(K.pending, alert.fingerprint, f"rule {rule.id}: {progress}", group.key, rule.id, alert=alert))

    def _prune(self, group: Group, rule: Rule, now: datetime, out: list[Decision]) -> None:
        window = rule.pattern.within if rule.pattern else timedelta(0)
        for fingerprint, member in list(group.members.items()):
            if now - member.seen > window:
                self.sources.remove(fingerprint, member.sources)
                self._remove(group, fingerprint)
                self._release_targets(fingerprint, now, out)
        if group.sequence_started is not None and now - group.sequence_started > window:
            group.sequence_started, group.sequence_step = None, 0
            self.dirty.add(("group", group.key))
        if not group.members:
            self._drop(group)

    def _severity(self, group: Group, rule: Rule, alert: Alert, now: datetime, out: list[Decision]) -> None:
        """Incident severity is the highest of its firing alerts; reaching a level can start actions."""
        member = group.members.get(alert.fingerprint)
        if member is not None and member.firing and member.severity is group.severity:
            return  # the usual case, in O(1): no firing member is above the incident's severity
        highest = group.highest_firing()
        if highest is None or highest is group.severity:
            return
        before, group.severity = group.severity, highest
        self.dirty.add(("group", group.key))
        out.append(
            Decision(K.severity, alert.fingerprint, f"severity {before.value} → {highest.value}", group.key, severity=highest, alert=alert)
        )
        if group.phase is Phase.open and group.actions_due_at is None:
            due = self._due(group, rule)
            if due:
                out.append(
                    Decision(K.act, alert.fingerprint, f"severity reached {highest.value}", group.key, rule.id, actions=due, alert=alert)
                )

    def _transition(self, group: Group, rule: Rule, alert: Alert, now: datetime, out: list[Decision]) -> None:
        if not isinstance(rule.pattern, FlappingPattern):
            return
        window = rule.pattern.within
        group.transitions = [t for t in group.transitions if now - t <= window] + [now]
        self.dirty.add(("group", group.key))
        if not group.flapping and len(group.transitions) >= rule.pattern.transitions:
            group.flapping = True
            reason = f"{len(group.transitions)} state changes within {format_duration(window)}: one incident, marked flapping"
            out.append(Decision(K.flapping, alert.fingerprint, reason, group.key, alert=alert))

    def _due(self, group: Group, rule: Rule) -> tuple[Action, ...]:
        done, rank = group.actions_done, group.severity.rank
        due = []
        for action, flow, least in rule.action_floors:
            if flow not in done and rank >= least:
                done.add(flow)
                due.append(action)
        return tuple(due)

    def _add(self, group: Group, alert: Alert, now: datetime) -> None:
        group.members[alert.fingerprint] = Member(alert.name, alert.severity, True, now, sources=self.sources.add(alert))
        self.key_of[alert.fingerprint] = group.key
        group.last_heard = now
        self._promise(group, alert)
        self.dirty.add(("group", group.key))
        self._touch(group, alert.fingerprint)

    @staticmethod
    def _promise(group: Group, alert: Alert) -> None:
        """Alertmanager's resolve by endsAt: Prometheus sends firing alerts with an endsAt a few evaluations
        ahead and resends them before it passes; if none comes (Prometheus stopped, the rule was deleted), the
        incident resolves at the latest endsAt. One firing alert without an endsAt turns this off for the incident."""
        if alert.ends_at is None or alert.ends_at <= alert.received_at:
            group.expires_at, group.never_expires = None, True
        elif not group.never_expires and (group.expires_at is None or alert.ends_at > group.expires_at):
            group.expires_at = alert.ends_at

    def _remove(self, group: Group, fingerprint: str) -> None:
        group.members.pop(fingerprint, None)
        self.key_of.pop(fingerprint, None)
        self._touch(group, fingerprint)

    def _touch(self, group: Group, fingerprint: str) -> None:
        self.dirty.add(("member", group.key + "\x1f" + fingerprint))

    def _drop(self, group: Group) -> None:
        for fingerprint in list(group.members):
            self._remove(group, fingerprint)
        self.groups.pop(group.key, None)
        self.dirty.add(("group", group.key))
