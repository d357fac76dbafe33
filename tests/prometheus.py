"""A real Prometheus (Debian's ``prometheus``) evaluating one alerting rule on a metric the test sets, sending to an Alertmanager URL.

Prometheus scrapes itself and a loopback ``/metrics`` page (``Probe``) whose
``probe_down{service=...}`` values the test sets; the rule ``ProbeDown`` fires
for every series above 0 (``for: 0s``, critical). Evaluation, scrapes and
resends are every second (``--rules.alert.resend-delay=1s``), so a test sees
a firing alert, its resends and its resolution within seconds. Alerts go to
``alerting.alertmanagers`` with ``api_version: v2`` and basic auth, exactly as
docs/sources.md tells people to configure it.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.conftest import free_port
from tests.support import start_server

RULES = {
    "groups": [
        {
            "name": "alertflow-test",
            "rules": [
                {
                    "alert": "ProbeDown",
                    "expr": "probe_down > 0",
                    "for": "0s",
                    "labels": {"severity": "critical"},
                    "annotations": {"summary": "{{ $labels.service }} does not answer its probe"},
                }
            ],
        }
    ]
}


class Probe:
    """A ``/metrics`` page on loopback: ``probe_down{service="<name>"} <0|1>`` for each service set."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        probe = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                lines = ["# TYPE probe_down gauge"] + [f'probe_down{{service="{s}"}} {v}' for s, v in sorted(probe.values.items())]
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.target = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, service: str, down: bool) -> None:
        self.values[service] = int(down)

    def close(self) -> None:
        self.server.shutdown()


def start_prometheus(directory: Path, alertmanager_url: str, probe: Probe, username: str, password: str) -> subprocess.Popen[bytes]:
    """Prometheus with its files in a fresh folder under ``directory``, sending alerts to ``alertmanager_url`` (scheme,
    host and port; the path prefix, if any, as ``path_prefix``) with basic auth; answering when returned."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: run `make test` (it installs it) or apt-get install prometheus"
    port = free_port()
    home = directory / f"prometheus-{port}"
    home.mkdir()
    (home / "password").write_text(password)
    (home / "rules.yml").write_text(yaml.safe_dump(RULES))
    target = urlsplit(alertmanager_url)
    alertmanager = {
        "scheme": target.scheme,
        "path_prefix": target.path or "/",
        "api_version": "v2",
        "timeout": "5s",
        "basic_auth": {"username": username, "password_file": str(home / "password")},
        "static_configs": [{"targets": [target.netloc]}],
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(home / "rules.yml")],
        "alerting": {"alertmanagers": [alertmanager]},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
            {"job_name": "probe", "static_configs": [{"targets": [probe.target]}]},
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    argv = [binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--rules.alert.resend-delay=1s"]  # fmt: skip
    return start_server(argv, home / "prometheus.log", f"http://127.0.0.1:{port}/-/ready", "Prometheus to be ready")
