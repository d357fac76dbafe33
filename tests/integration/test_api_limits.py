"""What one connection can make the API hold: header floods, slow and silent clients, senders that hang up.

Each test runs ``alertflow api`` as its own process (uvicorn with httptools and
uvloop, as in production) and talks to it over raw sockets on loopback, since
an HTTP client would refuse to send what these clients send.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import REPO, start_api, stop_process, write_config

FIRING = json.loads((REPO / "examples" / "alertmanager-firing.json").read_text())
FLOOD_BYTES = 20 * 2**20  # per request; 50 MB of short headers grew the API by ~240 MiB each before the limits
TIMEOUT = 1.0  # request_timeout_seconds in these tests
IDLE = 2.0  # idle_timeout_seconds


class Api:
    def __init__(self, url: str, pid: int, log: Path) -> None:
        self.url, self.pid, self.log = url, pid, log
        self.port = int(url.rsplit(":", 1)[1])

    def rss_mib(self) -> float:
        """Resident memory of the API process, from /proc."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(10)
        return sock


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    limits = {"request_timeout_seconds": TIMEOUT, "idle_timeout_seconds": IDLE}
    config = write_config(tmp_path, "http://127.0.0.1:9", f"sqlite+aiosqlite:///{tmp_path / 'alertflow.db'}", api_limits=limits)
    process, url = start_api(config, tmp_path / "api.log")
    try:
        yield Api(url, process.pid, tmp_path / "api.log")
    finally:
        stop_process(process)


def flood(api: Api, head: bytes, line: bytes) -> bytes:
    """Send ``head`` then ``line`` repeated up to FLOOD_BYTES, stopping as soon as the API answers; return the answer."""
    sock = api.connect()
    chunk = line * (65536 // len(line))
    try:
        sock.sendall(head)
        for _ in range(FLOOD_BYTES // len(chunk)):
            sock.sendall(chunk)
            if select.select([sock], [], [], 0)[0]:
                break
        else:
            sock.sendall(b"\r\n")
    except OSError:  # closed on us mid-send: the answer may already be in our buffer
        pass
    try:
        return sock.recv(4096)
    except OSError:
        return b""
    finally:
        sock.close()


def answer_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """What the API sends (b"" for a close) and after how long, waiting at most ``seconds``."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        data = b"<still open>"
    except ConnectionResetError:
        data = b""
    return data, time.monotonic() - start


def test_header_flood_gets_431_and_memory_stays_flat(api: Api) -> None:
    """Five floods of short headers and five of one endless header each get 431, and the API grows by under 5 MiB."""
    for _ in range(20):  # warm up: the first requests allocate what every request needs
        assert httpx.get(f"{api.url}/incidents", timeout=5).status_code == 200
    before = api.rss_mib()
    for _ in range(5):
        answer = flood(api, b"GET /incidents HTTP/1.1\r\nHost: x\r\n", b"X-Flood-Header: 0123456789abcdef0123456789\r\n")
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
        answer = flood(api, b"GET /incidents HTTP/1.1\r\nHost: x\r\nX-Flood: ", b"a" * 1024)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    grown = api.rss_mib() - before
    assert grown < 5, f"the API grew by {grown:.1f} MiB"
    assert httpx.get(f"{api.url}/healthz", timeout=5).status_code == 200


def test_too_many_headers_then_a_body_in_one_write_get_431(api: Api) -> None:
    """101 short headers and a body in one write get 431; the parser going on into the body logs no error."""
    headers = b"".join(b"X-H%d: v\r\n" % n for n in range(101))
    sock = api.connect()
    sock.sendall(b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n" + headers + b"\r\n{}")
    assert sock.recv(4096).startswith(b"HTTP/1.1 431 ")
    sock.close()
    time.sleep(0.3)
    log = api.log.read_text()
    assert "Traceback" not in log and "Invalid HTTP request" not in log, log


def test_large_requests_within_the_limits_still_pass(api: Api) -> None:
    """A 15 KB header with a 300 KB body sent in one write is read whole: the head limit never cuts into a body."""
    payload = {**FIRING, "alerts": [{**FIRING["alerts"][0], "annotations": {"description": "x" * 300_000}}]}
    body = json.dumps(payload).encode()
    head = f"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Big: {'b' * 15_000}\r\n"
    sock = api.connect()
    sock.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert sock.recv(4096).startswith(b"HTTP/1.1 202 ")
    sock.close()


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\n", id="head-stalls"),
        pytest.param(b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", id="body-stalls"),
    ],
)
def test_slow_request_is_cut_off_after_the_request_timeout(api: Api, sent: bytes) -> None:
    """A request not sent whole within request_timeout_seconds gets 408 and a close, and the API logs no traceback."""
    sock = api.connect()
    sock.sendall(sent)
    answer, after = answer_within(sock, 10)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    assert TIMEOUT * 0.9 <= after < TIMEOUT + 1.5
    assert "Traceback" not in api.log.read_text()


def test_trickled_head_is_cut_off_though_bytes_keep_coming(api: Api) -> None:
    """A client sending its head a byte every 0.1 s (slowloris) is cut off at the request timeout, not held for ever."""
    sock = api.connect()
    start = time.monotonic()
    with pytest.raises(OSError):
        for byte in b"GET /incidents HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 1000:
            sock.send(bytes([byte]))
            time.sleep(0.1)
            if select.select([sock], [], [], 0)[0] and not sock.recv(4096):
                raise ConnectionResetError("closed by the API")
    assert time.monotonic() - start < TIMEOUT + 1.5
    sock.close()


def test_idle_connection_is_closed_after_the_idle_timeout(api: Api) -> None:
    """A connection that never sends a request is closed after idle_timeout_seconds."""
    sock = api.connect()
    answer, after = answer_within(sock, 10)
    sock.close()
    assert answer == b""
    assert IDLE * 0.9 <= after < IDLE + 1.5


def test_sender_hanging_up_mid_body_logs_one_line_and_no_traceback(api: Api) -> None:
    """A client that disconnects mid-body leaves one log line, no ERROR and no traceback, and nothing stored."""
    sock = api.connect()
    sock.sendall(b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
    time.sleep(0.3)
    sock.close()
    time.sleep(0.5)
    log = api.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log
    assert [line for line in log.splitlines() if "went away" in line and "/webhooks/alertmanager" in line]
    assert httpx.get(f"{api.url}/readyz", timeout=5).json()["inbox_pending"] == 0
