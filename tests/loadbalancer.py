"""A real HAProxy (Debian's ``haproxy``) fronting two real backends on loopback, for failover tests.

HAProxy serves ``web1`` (primary); ``web2`` (standby) starts in maintenance
(``disabled``). The runtime API listens on TCP at admin level, as alertflow's
HAProxy switch expects; ``X-Served-By`` names the server that answered.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, free_port, wait_for
from tests.support import stop_process

BINARY = shutil.which("haproxy") or "/usr/sbin/haproxy"
BACKEND = REPO / "tests" / "backend.py"
CONFIG = """\
global
    stats socket ipv4@127.0.0.1:{admin} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend public
    bind 127.0.0.1:{front}
    default_backend checkout
    http-response set-header X-Served-By %s
backend checkout
    option httpchk GET /healthz
    server web1 127.0.0.1:{web1} check inter 300ms fall 1 rise 1
    server web2 127.0.0.1:{web2} check inter 300ms fall 1 rise 1 disabled
"""


class LoadBalancer:
    def __init__(self, directory: Path) -> None:
        assert Path(BINARY).exists(), "haproxy is not installed: run `make test` (it installs it) or apt-get install haproxy"
        self.directory = directory
        self.ports = {"admin": free_port(), "front": free_port(), "web1": free_port(), "web2": free_port()}
        self.url = f"http://127.0.0.1:{self.ports['front']}/"
        self.backends: dict[str, subprocess.Popen[bytes]] = {}
        (directory / "haproxy.cfg").write_text(CONFIG.format(**self.ports))
        self.haproxy: subprocess.Popen[bytes] | None = None

    def start(self) -> LoadBalancer:
        for name in ("web1", "web2"):
            self.start_backend(name)
        with open(self.directory / "haproxy.log", "wb") as log:
            self.haproxy = subprocess.Popen(
                [BINARY, "-db", "-f", str(self.directory / "haproxy.cfg")], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(lambda: self.served_by() == "web1" or self.haproxy.poll() is not None, 30, "HAProxy to serve web1")  # type: ignore[union-attr]
        assert self.haproxy.poll() is None, (self.directory / "haproxy.log").read_text()
        return self

    def start_backend(self, name: str, broken: bool = False) -> None:
        command = [sys.executable, str(BACKEND), "--name", name, "--port", str(self.ports[name])] + (["--broken"] if broken else [])
        self.backends[name] = subprocess.Popen(command)
        wait_for(lambda: self.healthy(name), 15, f"backend {name} to listen")

    def kill(self, name: str) -> None:
        """The backend dies (SIGKILL: no goodbye)."""
        self.backends[name].send_signal(signal.SIGKILL)
        self.backends[name].wait()

    def healthy(self, name: str) -> bool:
        try:
            return httpx.get(self.health_url(name), timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def health_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/healthz"

    def served_by(self) -> str | None:
        """Which server answers a request through the front end (None: nobody, e.g. a 503)."""
        try:
            response = httpx.get(self.url, timeout=2)
        except httpx.HTTPError:
            return None
        return response.headers.get("x-served-by") if response.status_code == 200 else None

    def switch_settings(self, **overrides: Any) -> dict[str, Any]:
        """alertflow's config for this load balancer, as a ``switches:`` entry."""
        return {
            "kind": "haproxy",
            "admin": f"127.0.0.1:{self.ports['admin']}",
            "backend": "checkout",
            "targets": {
                "primary": {"server": "web1", "health_url": self.health_url("web1")},
                "standby": {"server": "web2", "health_url": self.health_url("web2")},
            },
            "probe": {"url": self.url, "header": "X-Served-By", "samples": 3, "timeout_seconds": 2},
            **overrides,
        }

    def stop(self) -> None:
        for process in [*self.backends.values(), *([self.haproxy] if self.haproxy else [])]:
            stop_process(process)
