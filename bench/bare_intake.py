"""The ceiling of a Python webhook receiver on this machine: an ASGI app that reads each body and answers 202.

Why: issue 15 asks alertflow's intake for Alertmanager's rate. This app does
none of alertflow's work (no parsing, no validation, no commit, no pipeline),
so what it reaches under the same server (uvicorn with httptools and uvloop)
and the same load (bench/ingest.py) bounds what any Python intake can reach
here. ``--commit FILE`` adds the one thing every 202 of alertflow promises:
the body is on disk first (SQLite, WAL, ``synchronous=FULL``, as alertflow's
inbox), with the requests that arrive while a commit runs sharing the next
one (group commit, in a thread as alertflow's inbox does, or with
``--inline`` on the event loop itself: no thread hand-off, but the server
stops while it syncs). It answers ``GET /readyz`` as alertflow does
with nothing pending, so bench/ingest.py can load it with ``--url``:

    .venv/bin/python bench/bare_intake.py --port 8091 [--workers 2] [--commit /tmp/bare.db [--inline]] &
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8091 --against-alertmanager http://127.0.0.1:9093
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import uvicorn

ACCEPTED = b'{"status":"accepted"}'
READY = b'{"status":"ok","inbox_pending":0}'


class GroupCommit:
    """Bodies on disk before their 202: whatever arrived while the last commit ran goes in the next, one fsync."""

    def __init__(self, path: str, inline: bool) -> None:
        self.inline = inline
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        self.thread = ThreadPoolExecutor(1)
        self.waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        self.running = False

    async def add(self, body: bytes) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((body, done))
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._commit_all())
        await done

    async def _commit_all(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            if self.inline:
                await asyncio.sleep(0)  # the requests already read join this commit
                batch, self.waiting = batch + self.waiting, []
                self._commit([body for body, _ in batch])
            else:
                await asyncio.get_running_loop().run_in_executor(self.thread, self._commit, [body for body, _ in batch])
            for _, done in batch:
                done.set_result(None)
        self.running = False

    def _commit(self, bodies: list[bytes]) -> None:
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.executemany("INSERT INTO inbox (body) VALUES (?)", [(b,) for b in bodies])
        self.connection.execute("COMMIT")


COMMIT_FILE = os.environ.get("BARE_INTAKE_COMMIT")
COMMIT = GroupCommit(COMMIT_FILE, inline="BARE_INTAKE_INLINE" in os.environ) if COMMIT_FILE else None


async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    chunks, more = [], True
    while more:  # the whole body, as any receiver must read it
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    if COMMIT is not None and scope["method"] == "POST":
        await COMMIT.add(b"".join(chunks))
    body, status = (READY, 200) if scope["method"] == "GET" else (ACCEPTED, 202)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--commit", metavar="FILE", help="commit each body to this SQLite file before its 202")
    parser.add_argument("--inline", action="store_true", help="with --commit: commit on the event loop, not a thread")
    args = parser.parse_args()
    if args.commit:
        os.environ["BARE_INTAKE_COMMIT"] = args.commit  # the app module is imported again by uvicorn
    if args.inline:
        os.environ["BARE_INTAKE_INLINE"] = "1"
    uvicorn.run(
        "bare_intake:app", host="127.0.0.1", port=args.port, workers=args.workers, http="httptools", loop="uvloop",
        log_level="warning", access_log=False, app_dir=__file__.rsplit("/", 1)[0],
    )  # fmt: skip
