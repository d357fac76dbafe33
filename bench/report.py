"""What latency.py prints: the Slack-compatible server's calls read as messages, the figures, the issue's targets.

Kept apart from the measuring (latency.py) and the system it runs on
(harness.py) so each stays short enough to read at once: this part only turns
what was measured into the report, with met / MISSED against issue 13.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

STAGES = ("202", "decided", "announced", "paging created", "paging running", "failover running", "runs final")
NAMED = re.compile(r"Incident #(\d+):|\*#(\d+)\*")  # a page's heading, a digest's line (integrations/notifiers/message.py)
Key = tuple[str, str]  # a Slack message: (channel id, ts)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(v for v in values if v == v)  # NaN (a stage never reached) is left out and counted apart
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))] if ordered else float("nan")


@dataclass
class SlackLog:
    """What the Slack-compatible server received, read as messages: each call that showed incidents, and counts."""

    shown: list[tuple[float, Key, set[int]]] = field(default_factory=list)  # (at, message, incidents it names): posts and updates
    top: dict[Key, set[int]] = field(default_factory=dict)  # top-level messages (no thread) -> incidents ever named in them
    per_target: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    @classmethod
    def read(cls, calls: list[dict], since: float) -> SlackLog:
        log, address = cls(), {}  # channel id -> the channel as the app named it ("#oncall")
        for call in calls:
            body, answer = call["body"], call.get("answer") or {}
            if call["method"] == "chat.postMessage" and call["ok"]:
                address[answer["channel"]] = str(body.get("channel"))
            if call["at"] < since or call["method"] not in ("chat.postMessage", "chat.update"):
                continue
            target = address.get(str(body.get("channel")), str(body.get("channel")))
            if not call["ok"]:
                log.per_target[target]["429" if answer.get("error") == "ratelimited" else f"error {answer.get('error')}"] += 1
                continue
            named = {int(a or b) for a, b in NAMED.findall(f"{body.get('text', '')} {body.get('blocks', '')}")}
            if call["method"] == "chat.update":
                key: Key = (str(body["channel"]), str(body["ts"]))
                log.per_target[target]["updates"] += 1
            elif body.get("thread_ts"):
                log.per_target[target]["thread replies"] += 1
                continue
            else:
                key = (answer["channel"], answer["ts"])
                log.per_target[target]["messages"] += 1
            log.shown.append((call["at"], key, named))
            if key in log.top or call["method"] == "chat.postMessage":
                log.top.setdefault(key, set()).update(named)
        return log

    def first_shown(self, incident_id: int) -> tuple[float, Key] | None:
        return next(((at, key) for at, key, named in self.shown if incident_id in named), None)

    def messages_of(self, incident_id: int) -> list[Key]:
        return [key for key, named in self.top.items() if incident_id in named]


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(
    args: argparse.Namespace,
    rows: list[dict],
    slack: SlackLog,
    pages: dict[int, list[dict]],
    outcomes: Counter[str],
    paging_runs: Counter[str],
    outage: dict[str, float],
    burst_at: float,
    created: list[float],
    queued: int,
    joined: Counter[str],
) -> None:
    mode = "in a burst" if args.interval == 0 else f"{args.interval:g} s apart"
    down = f", Prefect stopped {args.prefect_down:g} s from just before the burst" if args.prefect_down else ""
    where = "PostgreSQL" if args.prefect_db else "its own database" if args.url else "SQLite"
    print(f"\n{len(rows)} new incidents, alerts sent {mode}{down}, Prefect on {where}; seconds after each webhook request was sent")
    print(f"{'stage':<17} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}  missing")
    for stage in STAGES:
        values = [row[stage] for row in rows]
        missing = sum(1 for v in values if v != v)
        cells = " ".join(f"{pct(values, q):>7.3f}" for q in (0.5, 0.9, 0.99, 1.0))
        print(f"{stage:<17} {cells}  {missing or ''}")
    finals = [row["sent"] + row["runs final"] for row in rows if row["runs final"] == row["runs final"]]
    burst_done = max(finals) - burst_at if len(finals) == len(rows) and finals else float("nan")
    print(f"all runs of the burst final {burst_done:.1f} s after its first webhook")
    print(f"flow runs: {dict(sorted(outcomes.items()))}")
    print(f"flow runs queued: {queued} ({queued / max(len(rows), 1):.2f} per incident), created in Prefect: {len(created)}")
    for flow in ("failover", "recovery"):
        print(f"incidents that joined another incident's {flow} run (no run of their own): {joined[flow]}")
    if len(created) > 1:
        span = created[-1] - created[0]
        print(f"flow runs created from {created[0] - burst_at:.1f} to {created[-1] - burst_at:.1f} s: {len(created) / span:.1f} runs/s")

    print("\nSlack calls per target (from the first webhook on):")
    for target, counts in sorted(slack.per_target.items()):
        print(f"  {target}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    twice, unlogged = [], []
    for row in rows:
        incident_id, shown = row["id"], slack.first_shown(row["id"])
        if len(slack.messages_of(incident_id)) > 1 or len(pages[incident_id]) > 1:
            twice.append(incident_id)
        logged = {(p["data"].get("channel"), p["data"].get("ts")) for p in pages[incident_id]}
        if shown and shown[1] not in logged:
            unlogged.append(incident_id)
    in_digest = sum(1 for row in rows if any("in a digest" in p["summary"] for p in pages[row["id"]]))
    print(f"incidents announced in a digest: {in_digest}; in a message of their own: {len(rows) - in_digest}")
    print(f"announced twice (two top-level messages, or two 'paged' entries): {len(twice)} {sorted(twice) or ''}")
    if unlogged:
        print(f"first shown in a message the page log does not name: {sorted(unlogged)}")

    announced = [row["announced"] for row in rows]
    p50, p99 = pct(announced, 0.5), pct(announced, 0.99)
    if args.prefect_down:
        created = [row["sent"] + row["paging created"] - outage["back"] for row in rows if row["paging created"] == row["paging created"]]
        print(f"\nPrefect stopped {burst_at - outage['stopped']:.1f} s before the first webhook, started again after"
              f" {outage['restarting'] - outage['stopped']:.1f} s, answering after {outage['back'] - outage['stopped']:.1f} s;"
              f" paging runs created {min(created, default=float('nan')):.1f} to {max(created, default=float('nan')):.1f} s"
              " after it answered")  # fmt: skip
        print("\ntargets (issue 13):")
        during = [row for row in rows if row["sent"] + row["announced"] < outage["restarting"]]
        slow = [row["id"] for row in during if row["announced"] > 2]
        print(f"  first pages while Prefect was down: {len(during)} of {len(rows)}, within 2 s: {len(during) - len(slow)}"
              f" {sorted(slow) or ''} -> {verdict(len(during) == len(rows) and not slow)}")  # fmt: skip
        once = [i for i in (row["id"] for row in rows) if paging_runs[f"paging-incident-{i}"] != 1]
        print(f"  paging run exists once per incident after Prefect returned: {len(rows) - len(once)} of {len(rows)}"
              f" {({i: paging_runs[f'paging-incident-{i}'] for i in once}) or ''} -> {verdict(not once)}")  # fmt: skip
        print(f"  no step 1 paged twice: {len(twice)} twice -> {verdict(not twice)}")
        return
    print("\ntargets (issue 13):")
    if args.interval == 0:
        messages = sum(counts["messages"] for counts in slack.per_target.values())
        failover = pct([row["failover running"] for row in rows], 0.99)
        print(f"  announced p50 <= 0.5 s: {p50:.3f} s -> {verdict(p50 <= 0.5)}")
        print(f"  announced p99 <= 2 s: {p99:.3f} s -> {verdict(p99 <= 2)}")
        print(f"  a handful of messages per target: {messages} top-level messages in {len(slack.per_target)} target(s)")
        print(f"  failover run Running p99 <= 30 s: {failover:.3f} s -> {verdict(failover <= 30)}")
        completed = sum(n for what, n in outcomes.items() if what.endswith(" Completed"))
        print(f"  every run Completed within 180 s: {completed} of {sum(outcomes.values())} Completed, "
              f"last final at {burst_done:.1f} s -> {verdict(completed == sum(outcomes.values()) and burst_done <= 180)}")  # fmt: skip
        print(f"  0 announced twice: {len(twice)} -> {verdict(not twice)}")
    else:
        print(f"  first page p99 <= 1 s: {p99:.3f} s -> {verdict(p99 <= 1)}")
        print(f"  0 announced twice: {len(twice)} -> {verdict(not twice)}")
