"""One driver for the engine's table-driven scenarios, shared by the test_engine_* modules.

A scenario is a list of steps, each ``(op, seconds after t0, *args, expected)``:
``("process", s, alert, expected)``, ``("tick", s, expected)``,
``("forget", s, key, expected)`` or ``("silences", s, silences, expected)``.
A decision is compared as ``show`` renders it: kind, incident key, and one
detail when there is one (the flows it starts, the new severity, or the
inhibiting incident).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alertflow.rules import Engine
from alertflow.rules.decision import Decision, DecisionKind


def show(d: Decision) -> tuple[Any, ...]:
    detail = " ".join(a.flow.value for a in d.actions) or (d.severity.value if d.kind is DecisionKind.severity and d.severity else "")
    detail = detail or d.related_key or ""
    return (d.kind, d.key, detail) if detail else (d.kind, d.key)


def decide(engine: Engine, op: str, now: datetime, args: list[Any]) -> list[Decision]:
    if op == "process":
        return engine.process(args[0].model_copy(update={"received_at": now}), now)
    if op == "tick":
        return engine.tick(now)
    if op == "forget":
        return engine.forget(args[0], now) or []
    if op == "silences":
        return engine.set_silences(args[0]) or []
    raise ValueError(f"unknown step {op!r}")


def run_steps(engine: Engine, steps: list[tuple[Any, ...]], t0: datetime) -> list[list[Decision]]:
    """Run the steps, assert each step's decisions (as ``show`` renders them), return the decisions."""
    decided = [decide(engine, op, t0 + timedelta(seconds=seconds), args) for op, seconds, *args, _ in steps]
    actual = [(op, seconds, [show(d) for d in decisions]) for (op, seconds, *_), decisions in zip(steps, decided, strict=True)]
    assert actual == [(op, seconds, step[-1]) for op, seconds, *step in steps]
    return decided
