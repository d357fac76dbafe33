"""A Slack workspace as the Web API shows it, for the sandbox and the tests: strict where Slack is.

A lenient stand-in lets bugs through that real Slack would catch: updating a
message that does not exist, posting to a channel by a made-up id, or posting
a hundred messages to one channel in two seconds. This one answers the way
Slack documents it:

- channels have ids (``C...``) and names; a name (``#oncall``) posts to the
  channel of that name (created on first use: the app is in every channel of
  the sandbox), a user id (``U...``) to that user's direct-message channel
  (``D...``); an id that names no channel is ``channel_not_found``;
- ``ts`` is unique and increasing per channel; ``chat.update`` takes a channel
  id and the ``ts`` of a message in it, else ``message_not_found``; a thread
  reply's ``thread_ts`` must be a message of that channel;
- ``chat.postMessage`` is rate limited per channel (about one message per
  second, after a short burst): beyond it the answer is HTTP 429,
  ``ratelimited``, with ``Retry-After``;
- more than 50 blocks is ``invalid_blocks``;
- message ``metadata`` is kept and ``conversations.history`` returns it with
  ``include_all_metadata``, newest first, as Slack does; ``conversations.list``
  and ``conversations.open`` give channel ids for names and users.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_BLOCKS = 50


@dataclass
class Channel:
    id: str
    name: str
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message
    tokens: float = 0.0  # the rate limit's bucket
    refilled: float = 0.0
    last_ts: float = 0.0


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class SlackWorkspace:
    def __init__(self, burst: int = 5, per_second: float = 1.0) -> None:
        self.burst, self.per_second = burst, per_second
        self.channels: dict[str, Channel] = {}

    def answer(self, method: str, body: dict[str, Any]) -> Answer:
        handler = {
            "auth.test": lambda _: Answer(200, {"ok": True, "team": "sandbox", "user": "alertflow", "user_id": "U0ALERTFLOW"}),
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.list": self._list,
            "conversations.open": self._open,
        }.get(method)
        return handler(body) if handler else Answer(200, {"ok": False, "error": "unknown_method"})

    def channel(self, ref: str) -> Channel | None:
        """The channel a ``channel`` argument means: an id, ``#name`` or ``name``, or a user id's DM."""
        if ref in self.channels:
            return self.channels[ref]
        if ref[:1] in ("C", "G", "D") and ref[1:].isalnum() and ref.upper() == ref:
            return None  # an id Slack would not know
        if ref[:1] in ("U", "W") and ref[1:].isalnum() and ref.upper() == ref:
            return self._make("D" + ref[1:], f"@{ref}")
        name = ref.removeprefix("#")
        found = next((c for c in self.channels.values() if c.name == name), None)
        return found or self._make(f"C{len(self.channels) + 1:08d}", name)

    def _make(self, channel_id: str, name: str) -> Channel:
        channel = self.channels.setdefault(channel_id, Channel(channel_id, name, tokens=self.burst, refilled=time.monotonic()))
        return channel

    def _post(self, body: dict[str, Any]) -> Answer:
        channel = self.channel(str(body.get("channel", "")))
        if channel is None:
            return Answer(200, {"ok": False, "error": "channel_not_found"})
        if (wait := self._take(channel)) > 0:
            return Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(math.ceil(wait))})
        if len(_json(body.get("blocks")) or []) > MAX_BLOCKS:
            return Answer(200, {"ok": False, "error": "invalid_blocks"})
        thread = body.get("thread_ts")
        if thread and thread not in channel.messages:
            return Answer(200, {"ok": False, "error": "thread_not_found"})
        channel.last_ts = max(round(time.time(), 6), round(channel.last_ts + 0.000001, 6))
        ts = f"{channel.last_ts:.6f}"
        message = {"type": "message", "ts": ts, "text": body.get("text"), "blocks": _json(body.get("blocks")), "user": "U0ALERTFLOW"}
        message |= {"thread_ts": thread} if thread else {}
        message |= {"metadata": _json(body["metadata"])} if body.get("metadata") else {}
        channel.messages[ts] = message
        return Answer(200, {"ok": True, "channel": channel.id, "ts": ts, "message": message})

    def _update(self, body: dict[str, Any]) -> Answer:
        channel = self.channels.get(str(body.get("channel", "")))
        if channel is None:
            return Answer(200, {"ok": False, "error": "channel_not_found"})
        message = channel.messages.get(str(body.get("ts", "")))
        if message is None:
            return Answer(200, {"ok": False, "error": "message_not_found"})
        if len(_json(body.get("blocks")) or []) > MAX_BLOCKS:
            return Answer(200, {"ok": False, "error": "invalid_blocks"})
        message.update(text=body.get("text", message["text"]), blocks=_json(body.get("blocks")) or message.get("blocks"))
        return Answer(200, {"ok": True, "channel": channel.id, "ts": message["ts"], "text": message["text"]})

    def _history(self, body: dict[str, Any]) -> Answer:
        channel = self.channels.get(str(body.get("channel", "")))
        if channel is None:
            return Answer(200, {"ok": False, "error": "channel_not_found"})
        oldest, limit = float(body.get("oldest") or 0), int(body.get("limit") or 100)
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("true", "1")
        found = [m for ts, m in sorted(channel.messages.items(), key=lambda i: float(i[0]), reverse=True) if float(ts) > oldest]
        found = [m for m in found if "thread_ts" not in m][:limit]
        shown = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in found]
        return Answer(200, {"ok": True, "messages": shown, "has_more": False})

    def _list(self, body: dict[str, Any]) -> Answer:
        shown = [{"id": c.id, "name": c.name, "is_channel": True} for c in self.channels.values() if c.id.startswith("C")]
        return Answer(200, {"ok": True, "channels": shown, "response_metadata": {"next_cursor": ""}})

    def _open(self, body: dict[str, Any]) -> Answer:
        users = str(body.get("users", ""))
        channel = self.channel(users) if users[:1] in ("U", "W") else None
        if channel is None:
            return Answer(200, {"ok": False, "error": "user_not_found"})
        return Answer(200, {"ok": True, "channel": {"id": channel.id}})

    def _take(self, channel: Channel) -> float:
        """Spend one message of the channel's allowance; the seconds to wait when there is none."""
        now = time.monotonic()
        channel.tokens = min(self.burst, channel.tokens + (now - channel.refilled) * self.per_second)
        channel.refilled = now
        if channel.tokens >= 1:
            channel.tokens -= 1
            return 0.0
        return (1 - channel.tokens) / self.per_second


def _json(value: Any) -> Any:
    """Form-encoded calls carry blocks and metadata as JSON text; JSON calls as values."""
    return orjson.loads(value) if isinstance(value, str | bytes) and value else value
