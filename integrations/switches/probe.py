"""Who really answers: requests through the front end, checked against a target's marker.

A switch that says "standby" proves only that the switch accepted a command.
This probe sends a few requests through the load balancer's public side and
looks for the target's marker (a response header such as ``X-Served-By``, or
the body), so a failover is verified by the traffic itself.
"""

from __future__ import annotations

import httpx

from alertflow.config.responses import Probe
from alertflow.errors import RetryableIntegrationError
from alertflow.integrations.http import request, safe_url


async def served_by(probe: Probe, client: httpx.AsyncClient) -> list[str]:
    """The marker-bearing text of each sample: the header's value, or the body's first 200 characters."""
    seen = []
    for _ in range(probe.samples):
        response = await request(client, "GET", probe.url, timeout=probe.timeout_seconds)
        seen.append(response.headers.get(probe.header, "") if probe.header else response.text[:200])
    return seen


async def verify_served_by(probe: Probe, marker: str, client: httpx.AsyncClient) -> str:
    """Every sample must carry ``marker``; else a retryable error saying what answered instead."""
    try:
        seen = await served_by(probe, client)
    except RetryableIntegrationError as err:
        raise RetryableIntegrationError(f"front end {safe_url(probe.url)}: {err}") from None
    wrong = [answer for answer in seen if marker not in answer]
    if wrong:
        raise RetryableIntegrationError(
            f"front end {safe_url(probe.url)}: {len(wrong)} of {len(seen)} requests not served by {marker!r} (got {wrong[0][:80]!r})"
        )
    return f"{len(seen)} of {len(seen)} requests through {safe_url(probe.url)} served by {marker!r}"
