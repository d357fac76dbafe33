"""HAProxy as a traffic switch, through its runtime API (the admin ``stats socket``).

Each target is one server of one backend. A shift sets the target's server
``ready`` first and then the others ``drain`` (or ``maint``), so there is never
a moment with no server to send traffic to; ``restore`` replays the admin
states ``status`` read before, ready ones first. The socket is TCP
(``stats socket ipv4@127.0.0.1:9999 level admin``) or a unix path; each command
is one connection, which HAProxy answers and closes.

``show servers state <backend>`` gives ``srv_admin_state`` as bit flags; the
ones that take a server out are forced/inherited/resolver/hostname maintenance
(0x01, 0x02, 0x20, 0x40) and forced/inherited drain (0x08, 0x10). 0x04 only
remembers that the config said ``disabled`` and stays set after ``ready``.
"""

from __future__ import annotations

import asyncio

from alertflow.config.responses import HaproxySwitchSettings
from alertflow.errors import PermanentIntegrationError, RetryableIntegrationError
from alertflow.integrations.switches import SwitchState

MAINT_FLAGS = 0x01 | 0x02 | 0x20 | 0x40
DRAIN_FLAGS = 0x08 | 0x10
READY_FIRST = {"ready": 0, "drain": 1, "maint": 2}


def admin_state(flags: int) -> str:
    """ready, drain or maint, from ``srv_admin_state``."""
    if flags & MAINT_FLAGS:
        return "maint"
    return "drain" if flags & DRAIN_FLAGS else "ready"


def parse_servers_state(text: str) -> dict[str, str]:
    """Server name -> admin state, from ``show servers state`` (format version 1)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].strip() != "1" or len(lines) < 2 or not lines[1].startswith("#"):
        raise PermanentIntegrationError(f"haproxy: unexpected answer to 'show servers state': {text[:200]!r}")
    columns = lines[1].lstrip("# ").split()
    name, flags = columns.index("srv_name"), columns.index("srv_admin_state")
    return {fields[name]: admin_state(int(fields[flags])) for fields in (line.split() for line in lines[2:])}


class HaproxySwitch:
    def __init__(self, settings: HaproxySwitchSettings) -> None:
        self.settings = settings
        self.servers = {target.server: name for name, target in settings.targets.items()}

    async def command(self, line: str) -> str:
        """Send one runtime API command and return HAProxy's answer."""
        where = f"haproxy runtime API {self.settings.admin}"
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                if self.settings.admin.startswith("/"):
                    reader, writer = await asyncio.open_unix_connection(self.settings.admin)
                else:
                    host, _, port = self.settings.admin.rpartition(":")
                    reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
                try:
                    writer.write(line.encode() + b"\n")
                    await writer.drain()
                    answer = (await reader.read()).decode(errors="replace")
                finally:
                    writer.close()
        except TimeoutError:
            raise RetryableIntegrationError(f"{where}: timed out") from None
        except OSError as err:
            raise RetryableIntegrationError(f"{where}: {type(err).__name__}: {err.strerror or err}") from None
        return answer

    async def status(self) -> SwitchState:
        text = await self.command(f"show servers state {self.settings.backend}")
        if not text.startswith("1"):
            raise PermanentIntegrationError(f"haproxy: backend {self.settings.backend}: {text.strip()[:200]}")
        states = parse_servers_state(text)
        missing = sorted(set(self.servers) - set(states))
        if missing:
            raise PermanentIntegrationError(f"haproxy: backend {self.settings.backend} has no server {missing[0]}")
        detail = {server: states[server] for server in self.servers}
        ready = [self.servers[server] for server, state in detail.items() if state == "ready"]
        return SwitchState(active=ready[0] if len(ready) == 1 else None, detail=detail)

    async def set_state(self, server: str, state: str) -> None:
        answer = (await self.command(f"set server {self.settings.backend}/{server} state {state}")).strip()
        if answer:  # success is an empty answer; anything else is HAProxy refusing
            raise PermanentIntegrationError(f"haproxy: set server {self.settings.backend}/{server} state {state}: {answer[:200]}")

    async def shift(self, to: str) -> None:
        target = self.settings.targets.get(to)
        if target is None:
            raise PermanentIntegrationError(f"haproxy: switch has no target {to!r}")
        await self.set_state(target.server, "ready")
        for server in self.servers:
            if server != target.server:
                await self.set_state(server, self.settings.retire)

    async def restore(self, state: SwitchState) -> None:
        for server, admin in sorted(state.detail.items(), key=lambda item: READY_FIRST[item[1]]):
            await self.set_state(server, admin)
