"""The ceiling of a Python webhook receiver on this machine: an ASGI app that reads each body and answers 202.

Why: issue 15 asks alertflow's intake for Alertmanager's rate. This app does
none of alertflow's work (no parsing, no validation, no commit, no pipeline),
so what it reaches under the same server (uvicorn with httptools and uvloop)
and the same load (bench/ingest.py) bounds what any Python intake can reach
here. It answers ``GET /readyz`` as alertflow does with nothing pending, so
bench/ingest.py can load it with ``--url``:

    .venv/bin/python bench/bare_intake.py --port 8091 [--workers 2] &
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8091 --against-alertmanager http://127.0.0.1:9093
"""

from __future__ import annotations

import argparse

import uvicorn

ACCEPTED = b'{"status":"accepted"}'
READY = b'{"status":"ok","inbox_pending":0}'


async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    more = True
    while more:  # the whole body, as any receiver must read it
        message = await receive()
        more = message.get("more_body", False)
    body, status = (READY, 200) if scope["method"] == "GET" else (ACCEPTED, 202)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    args = parser.parse_args()
    uvicorn.run(
        "bare_intake:app", host="127.0.0.1", port=args.port, workers=args.workers, http="httptools", loop="uvloop",
        log_level="warning", access_log=False, app_dir=__file__.rsplit("/", 1)[0],
    )  # fmt: skip
