"""Unit tests for rules files, in the spirit of ``promtool test rules``.

A test is a timed alert series and the incidents it should produce. The runner
feeds the series through a simulation (rules/simulate.py) and compares only
the fields the test states, so a test pins what it cares about. Pure: the CLI
reads the files and prints the result.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alertflow.durations import Duration
from alertflow.models import Alert, AlertStatus, Severity, Silence
from alertflow.rules.schema import RuleSet
from alertflow.rules.simulate import Simulation

START = datetime(2030, 1, 7, 12, 0, tzinfo=timezone.utc)  # a Monday noon: tests should not depend on today


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeriesAlert(_Strict):
    at: Duration = timedelta(0)
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    status: Literal["firing", "resolved"] = "firing"
    fingerprint: str | None = Field(None, description="default: derived from the labels")

    def alert(self) -> Alert:
        labels = self.labels
        fingerprint = self.fingerprint or "|".join(f"{k}={v}" for k, v in sorted(labels.items()))
        name = labels.get("alertname", "unnamed")
        received = START + self.at
        return Alert(
            source="rules-test", fingerprint=fingerprint, name=name, service=labels.get("service") or labels.get("job") or "unknown",
            severity=Severity.parse(labels.get("severity")), status=AlertStatus(self.status), labels=labels,
            annotations=self.annotations, starts_at=received, received_at=received,
        )  # fmt: skip


class SeriesSilence(_Strict):
    matchers: list[str] = Field(min_length=1)
    from_: Duration = Field(timedelta(0), alias="from")
    until: Duration


class ExpectedIncident(_Strict):
    key: str
    status: Literal["open", "resolved"] | None = None
    severity: Severity | None = None
    actions: list[str] | None = None
    alerts: int | None = Field(None, description="how many alerts joined it")
    flapping: bool | None = None


class Expectation(_Strict):
    incidents: list[ExpectedIncident] = Field(default_factory=list, description="exactly these incidents, in opening order")
    suppressed: list[str] | None = Field(None, description="alertnames held back, in order")


class RuleTest(_Strict):
    name: str
    alerts: list[SeriesAlert] = Field(default_factory=list)
    silences: list[SeriesSilence] = Field(default_factory=list)
    run_until: Duration | None = Field(None, description="keep the clock running to here; default: last alert + 1m")
    expect: Expectation


class RuleTestFile(_Strict):
    rule_files: list[str] = Field(min_length=1)
    tests: list[RuleTest] = Field(min_length=1)


def run_test(test: RuleTest, ruleset: RuleSet) -> list[str]:
    """The differences between what the test expects and what the rules do; empty = pass."""
    silences = [
        Silence(id=i + 1, matchers=s.matchers, starts_at=START + s.from_, ends_at=START + s.until, author="rules-test")
        for i, s in enumerate(test.silences)
    ]  # fmt: skip
    simulation = Simulation(ruleset, silences)
    for item in sorted(test.alerts, key=lambda a: a.at):
        simulation.feed(item.alert())
    last = max((a.at for a in test.alerts), default=timedelta(0))
    simulation.run_until(START + (test.run_until if test.run_until is not None else last + timedelta(minutes=1)))
    problems = []
    got = simulation.incidents
    for index, expected in enumerate(test.expect.incidents):
        if index >= len(got):
            problems.append(f"missing incident #{index + 1}: expected {_fields(expected)}")
            continue
        actual = got[index].summary()
        for name, want in _fields(expected).items():
            if actual[name] != want:
                problems.append(f"incident #{index + 1} ({actual['key']}): {name}: expected {want!r}, got {actual[name]!r}")
    for extra in got[len(test.expect.incidents) :]:
        problems.append(f"unexpected incident: {extra.summary()}")
    if test.expect.suppressed is not None:
        names = [s.alert.name for s in simulation.suppressed]
        if names != test.expect.suppressed:
            problems.append(f"suppressed: expected {test.expect.suppressed}, got {names}")
    return problems


def _fields(expected: ExpectedIncident) -> dict[str, object]:
    values = expected.model_dump(exclude_none=True)
    if "severity" in values:
        values["severity"] = values["severity"].value
    return values
