"""The summary that heads an incident's timeline artifact: how long, how soon answered, what ran, who did what.

A timeline is the record; this is what the person opening it asks first. The
numbers come from alertflow/store/summary.py (a few bounded reads, never the
whole timeline); here they become the markdown above the timeline's table.
"""

from __future__ import annotations

from alertflow.durations import format_span
from alertflow.models import IncidentStatus, timestamp
from alertflow.store.summary import IncidentSummary


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").splitlines())


def summary_markdown(summary: IncidentSummary) -> str:
    incident = summary.incident
    resolved = incident.status is IncidentStatus.resolved
    duration = format_span(summary.duration_seconds) + ("" if resolved else " so far")
    if summary.time_to_ack_seconds is not None:
        ack = f"{format_span(summary.time_to_ack_seconds)}, by {_cell(incident.acknowledged_by or '?')}"
    else:
        ack = "not acknowledged" + (f" (resolved by {_cell(incident.resolved_by or '?')})" if resolved else "")
    runs = "; ".join(
        f"{flow} ×{sum(states.values())}: " + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        for flow, states in sorted(summary.runs.items())
    )
    paged = f"{summary.pages} to {', '.join(_cell(p) for p in summary.paged)}" if summary.pages else "none sent"
    if summary.escalated_past_step_1:
        paged += "; escalated past step 1"
    lines = [
        "## Summary",
        "",
        "| | |",
        "|---|---|",
        f"| Duration | {duration} |",
        f"| Time to acknowledge | {ack} |",
        f"| Responses | {runs or 'none'} |",
        f"| Pages | {paged} |",
        "",
    ]
    if summary.deeds:
        lines += ["**Who did what**", ""]
        lines += [f"- {timestamp(d.at)} **{_cell(d.actor)}**: {_cell(d.what)}" for d in summary.deeds]
        lines.append("")
    return "\n".join(lines)
