"""A tiny HTTP backend for tests: says who it is, can be killed, can lie about its health.

``python tests/backend.py --name web1 --port 8001`` answers every path with its
name (body and ``X-Backend`` header). ``--broken`` answers 500 everywhere but
``/healthz``: a health endpoint that lies, so a failover's front-end check is
what catches it. ``--detach --pidfile F`` starts it in the background and
returns once it listens, as a restart command in a runbook would.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def serve(name: str, port: int, broken: bool) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 500 if broken and self.path != "/healthz" else 200
            body = name.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", name)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

        def handle(self) -> None:
            with contextlib.suppress(ConnectionError):  # the load balancer's health checks hang up early
                super().handle()

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broken", action="store_true")
    parser.add_argument("--detach", action="store_true")
    parser.add_argument("--pidfile")
    args = parser.parse_args()
    if not args.detach:
        if args.pidfile:
            Path(args.pidfile).write_text(str(os.getpid()))
        serve(args.name, args.port, args.broken)
        return
    command = [sys.executable, __file__, "--name", args.name, "--port", str(args.port)] + (["--broken"] if args.broken else [])
    command += ["--pidfile", args.pidfile] if args.pidfile else []
    subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while not listening(args.port):
        if time.monotonic() > deadline:
            sys.exit(f"{args.name} did not listen on {args.port}")
        time.sleep(0.05)
    print(f"{args.name} listening on {args.port}")


if __name__ == "__main__":
    main()
