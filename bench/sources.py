"""Source parsing and webhook auth cost per request, on one core, no I/O.

Why: every webhook request pays for its auth check and its parse before the
inbox write, so these must stay small next to the commit (~1 ms). For each
golden payload under tests/payloads/ it times ``parse`` (JSON already
decoded), then the request checks: bearer, basic, HMAC over ``timestamp:body``
and an SNS signature verification (RSA-2048, SignatureVersion 1 and 2, the
certificate already cached, as it is after the first message).

    .venv/bin/python bench/sources.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the golden payloads and the test SNS live in tests/

from alertflow.auth import BasicAuth, BearerAuth, HmacAuth, check_request, sign
from alertflow.config.sources import SnsSettings
from alertflow.integrations.sources.cloudwatch import CloudWatchSource
from tests.fuzzing import GOLDEN
from tests.sns_peer import SnsPeer, alarm_message
from tests.unit.test_source_payloads import source_for

NOW = datetime.now(timezone.utc)


def per_call(function: Callable[[], object], seconds: float = 0.3) -> float:
    """Microseconds per call, over at least ``seconds``."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            function()
        calls += 100
    return elapsed / calls * 1e6


def main() -> None:
    print(f"{'parse':<48} {'µs/request':>10} {'alerts':>7}")
    for path in GOLDEN:
        payload, source = json.loads(path.read_text()), source_for(path.parent)
        alerts = len(source.parse(payload, NOW))
        cost = per_call(lambda source=source, payload=payload: source.parse(payload, NOW))
        print(f"  {path.parent.name + '/' + path.stem:<46} {cost:>10.1f} {alerts:>7}")
    body = (GOLDEN[0].parent.parent / "grafana" / "firing-two.json").read_bytes()
    stamp = str(int(NOW.timestamp()))
    checks = {
        "bearer": (BearerAuth(token=SecretStr("t" * 32)), {"authorization": "Bearer " + "t" * 32}),
        "basic": (
            BasicAuth(username="u", password=SecretStr("p" * 32)),
            {"authorization": "Basic " + base64.b64encode(b"u:" + b"p" * 32).decode()},
        ),
        "hmac + timestamp": (
            HmacAuth(secret=SecretStr("s" * 32), timestamp_header="X-Ts"),
            {"x-grafana-alerting-signature": sign("s" * 32, body, stamp), "x-ts": stamp},
        ),
    }
    print(f"{'request auth (' + str(len(body)) + '-byte body)':<48} {'µs/request':>10}")
    for name, (auth, headers) in checks.items():
        print(f"  {name:<46} {per_call(lambda: check_request(auth, headers, body, NOW)):>10.1f}")  # noqa: B023
    with tempfile.TemporaryDirectory() as directory:
        peer = SnsPeer(Path(directory))
        try:
            source = CloudWatchSource(SnsSettings.model_validate(peer.source_settings()["sns"]))
            loop = asyncio.new_event_loop()
            for version in ("1", "2"):
                message = peer.message("Notification", alarm_message(), version=version)
                loop.run_until_complete(source.verify(message))  # fetches and caches the certificate
                cost = per_call(lambda: loop.run_until_complete(source.verify(message)))  # noqa: B023
                print(f"  {'SNS signature, SignatureVersion ' + version:<46} {cost:>10.1f}")
        finally:
            peer.close()


if __name__ == "__main__":
    main()
