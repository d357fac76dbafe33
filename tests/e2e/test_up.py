"""`alertflow up`, the README's first command: everything starts, works, and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import httpx

from alertflow.config.settings import load_settings
from tests.conftest import free_port, wait_for
from tests.support import REPO, write_config


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
        return True
    except httpx.HTTPError:
        return False


def test_up_starts_prefect_worker_api_and_sandbox_and_ctrl_c_stops_all(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`alertflow up --sandbox` starts its own Prefect server and worker, serves the example alert end to end, and SIGINT stops everything."""
    prefect_port, sandbox_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    config = write_config(
        tmp_path, sandbox_url, f"sqlite+aiosqlite:///{tmp_path / 'up.db'}", prefect_api_url=f"http://127.0.0.1:{prefect_port}/api"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "alertflow", "up", "--config", str(config), "--sandbox", "--sandbox-port", str(sandbox_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    try:
        wait_for(lambda: "alertflow is up" in "".join(output) or process.poll() is not None, 180, "the banner")
        banner = "".join(output)
        assert f"http://127.0.0.1:{prefect_port}" in banner and "/webhooks/alertmanager" in banner and sandbox_url in banner, banner
        api = load_settings(config).resolved_api_url
        fire = subprocess.run(
            [sys.executable, "-m", "alertflow", "fire", str(REPO / "examples" / "alertmanager-firing.json"), "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert "HTTP 202" in fire.stdout, fire.stdout + fire.stderr

        def four_finished() -> bool:
            rows = httpx.get(f"{api}/incidents/1").json()["timeline"]
            # paging, failover and recovery record their lifecycle; the timeline flow publishes it
            return sum(1 for e in rows if e["summary"].endswith("flow succeeded")) == 3 and any(
                e["summary"].startswith("paged") for e in rows
            )

        wait_for(four_finished, 60, f"the flows to finish; output so far:\n{''.join(output)}", interval=0.5)
        slack = httpx.get(f"{sandbox_url}/_sandbox/calls").json()["slack"]
        assert [c["method"] for c in slack] == ["chat.postMessage"]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(90)
    assert code == 0, "".join(output)
    assert "stopping worker" in "".join(output) and "stopping Prefect server" in "".join(output)
    assert not answers(f"http://127.0.0.1:{prefect_port}/api/health"), "the Prefect server it started is still up"
    assert not answers(sandbox_url)
