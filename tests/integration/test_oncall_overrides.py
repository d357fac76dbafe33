"""On-call overrides stored in the database: the CLI (in-process) and the API on one real loopback API for the module,
each test on a schedule of its own; the store on SQLite and PostgreSQL; the calendar feed read back with the
icalendar library. A page going to the override's person: tests/integration/test_override_paging.py."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from typer.testing import CliRunner

from alertflow.cli.oncall import oncall_app
from alertflow.config.settings import Settings
from alertflow.errors import Conflict, NotFound
from alertflow.store.overrides import OverrideStore, current_schedules
from tests.support import ApiThread, write_config

BERLIN = ZoneInfo("Europe/Berlin")
PEOPLE = {"alice": {"slack_user_id": "UALICE", "email": "alice@example.com"}, "bob": {"slack_user_id": "UBOB"}, "carol": {}}
LAYER = {"name": "weekly", "people": ["alice", "carol"], "rotation": "weekly", "start": "2026-01-05", "handoff": "09:00"}
SCHEDULES = {name: {"time_zone": "Europe/Berlin", "layers": [LAYER]} for name in ("primary", "calendar", "other", "quiet")}
DAY = (datetime.now(BERLIN) + timedelta(days=2)).date()  # a day ahead: overrides must not have ended
TOKEN, SECRET = "admin-s3cret", "calendar-links-s3cret"


def at(hour: int, day: Any = DAY) -> str:
    return f"{day}T{hour:02}:00"


def cli(config, *args: str) -> Any:  # type: ignore[no-untyped-def]
    """``alertflow oncall ...`` in this process (only its command group is built: a tenth of the time of the whole
    CLI's); the environment the command exports (Prefect's URL) is put back."""
    assert args[0] == "oncall"
    saved = dict(os.environ)
    try:
        return CliRunner().invoke(oncall_app, [*args[1:], "--config", str(config)], env={"COLUMNS": "200"})
    finally:
        os.environ.clear()
        os.environ.update(saved)


def lines(result: Any) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def api(tmp_path_factory):  # type: ignore[no-untyped-def]
    """One API for the module (starting and stopping one costs about 2 s), with a token (the CLI sends the config's)
    and signed calendar links; nothing pages (no rule does), and Prefect is not needed."""
    folder = tmp_path_factory.mktemp("oncall")
    links = {"secret": SECRET, "base_url": "https://alertflow.example.com"}
    config = write_config(folder, "http://127.0.0.1:9", f"sqlite+aiosqlite:///{folder / 'alertflow.db'}", prefect_api_url="http://127.0.0.1:9/api",
                          people=PEOPLE, schedules=SCHEDULES, api_token=TOKEN, calendar_links=links)  # fmt: skip
    with ApiThread(config) as api:
        yield api, config


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_override_add_list_remove_and_audit_from_the_cli(api) -> None:  # type: ignore[no-untyped-def]
    """add stores an override that `who` and `show` then answer with; list shows it; remove ends it and keeps it in the
    audit, with who did what and with which credential; a second remove is refused (exit 1)."""
    _, config = api
    before = lines(cli(config, "oncall", "who", "-s", "primary", "--at", at(13), "--json"))[0]
    added = cli(config, "oncall", "override", "add", "bob", "-s", "primary", "--from", at(12), "--to", at(14), "--reason", "swap",
                "--by", "dave", "--json")  # fmt: skip
    assert added.exit_code == 0, added.output
    override = json.loads(added.stdout)
    number = override["id"]
    assert (override["person"], override["schedule"], override["reason"], override["created_by"]) == ("bob", "primary", "swap", "dave")
    assert datetime.fromisoformat(override["start"]) == datetime.fromisoformat(at(12)).replace(tzinfo=BERLIN)
    who = lines(cli(config, "oncall", "who", "-s", "primary", "--at", at(13), "--json"))[0]
    assert (who["person"], who["source"], who["until"]) == ("bob", f"override #{number}", f"{at(14)}:00{who['at'][-6:]}")
    assert cli(config, "oncall", "who", "-s", "primary", "--at", at(13)).stdout.startswith(f"primary: bob (override #{number}) until ")
    shown = lines(cli(config, "oncall", "show", "-s", "primary", "--at", at(10), "--days", "1", "--json"))
    assert [(s["start"][11:16], s["person"], s["source"]) for s in shown][:3] == [
        ("10:00", before["person"], "weekly"), ("12:00", "bob", f"override #{number}"), ("14:00", before["person"], "weekly")
    ]  # fmt: skip
    assert lines(cli(config, "oncall", "override", "list", "-s", "primary", "--json")) == [override]
    assert "swap" in cli(config, "oncall", "override", "list").stdout
    removed = cli(config, "oncall", "override", "remove", str(number), "--by", "erin")
    assert removed.exit_code == 0 and removed.stdout.startswith(f"removed override {number}: bob on call for primary"), removed.output
    assert lines(cli(config, "oncall", "override", "list", "-s", "primary", "--json")) == []
    assert lines(cli(config, "oncall", "who", "-s", "primary", "--at", at(13), "--json"))[0]["person"] == before["person"]
    again = cli(config, "oncall", "override", "remove", str(number))
    assert again.exit_code == 1 and "already removed by erin" in again.output
    assert cli(config, "oncall", "override", "remove", "9999").exit_code == 1
    audit = lines(cli(config, "oncall", "audit", "-s", "primary", "--json"))
    assert [(e["action"], e["override_id"], e["person"], e["by"], e["via"]) for e in audit] == [
        ("added", number, "bob", "dave", "api_token"), ("removed", number, "bob", "erin", "api_token")
    ]  # fmt: skip
    assert f"removed #{number}" in cli(config, "oncall", "audit").stdout


def test_bad_input_names_the_option_and_changes_nothing(api) -> None:  # type: ignore[no-untyped-def]
    """Unknown schedule or person, an end before the start or in the past, an unreadable time: exit 2 naming the
    option (the API: 422 naming the field), and nothing is stored."""
    server, config = api
    add = ("oncall", "override", "add")
    cases = [
        (
            (*add, "bob", "-s", "nope", "--from", at(12), "--to", at(14)),
            "--schedule",
            "no schedule 'nope' (have: calendar, other, primary, quiet)",
        ),
        ((*add, "zed", "-s", "quiet", "--from", at(12), "--to", at(14)), "PERSON", "no person 'zed'"),
        ((*add, "bob", "-s", "quiet", "--from", at(14), "--to", at(12)), "--to", "the override ends ("),
        ((*add, "bob", "-s", "quiet", "--from", "2020-01-01T10:00", "--to", "2020-01-01T12:00"), "--to", "the override ends in the past"),
        ((*add, "bob", "-s", "quiet", "--from", "tomorrow", "--to", at(12)), "--from", "not an ISO time: 'tomorrow'"),
        (("oncall", "who", "-s", "nope"), "--schedule", "no schedule 'nope'"),
        (("oncall", "show", "--at", "soon"), "--at", "not an ISO time"),
        (("oncall", "calendar-url", "nope"), "SCHEDULE", "no schedule 'nope'"),
    ]
    for args, option, message in cases:
        result = cli(config, *args)
        assert result.exit_code == 2 and f"Invalid value for {option}: {message}" in result.output, (args, result.output)
    body = {"schedule": "quiet", "person": "bob", "start": at(12), "end": "noon"}
    refused = server.post("/oncall/overrides", json=body, headers=bearer())
    assert refused.status_code == 422 and refused.json()["field"] == "body.end"
    refused = server.post("/oncall/overrides", json=body | {"end": at(11)}, headers=bearer())
    assert refused.status_code == 422 and refused.json()["field"] == "end"
    assert server.get("/oncall/quiet.ics", params={"future_days": 400}, headers=bearer()).json()["field"] == "query.future_days"
    assert server.get("/oncall/audit", params={"schedule": "quiet"}, headers=bearer()).json() == []


def events(text: bytes) -> list[Any]:
    return list(Calendar.from_ical(text).walk("VEVENT"))


def test_calendar_feed_has_a_stable_event_per_shift_with_overrides_applied(api) -> None:  # type: ignore[no-untyped-def]
    """One VEVENT per shift in UTC, the person in SUMMARY (and ATTENDEE by email); an override splits its shift into
    pieces whose UIDs are the shift's start, so the piece before it keeps its UID; the window is bounded."""
    server, config = api
    window = {"past_days": 0, "future_days": 21}
    plain = server.get("/oncall/calendar.ics", params=window, headers=bearer())
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(plain.content)
    assert calendar["x-wr-calname"] == "On call: calendar" and calendar["x-wr-timezone"] == "Europe/Berlin"
    before = {str(e["uid"]): e for e in events(plain.content)}
    assert 3 <= len(before) <= 5, "a weekly rotation over three weeks"
    for event in before.values():
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert start.utcoffset() == timedelta(0) and timedelta(0) < end - start <= timedelta(days=7)
        assert start.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 09:00", "each shift keeps its real start"
    alice = next(e for e in before.values() if str(e["summary"]).startswith("alice"))
    assert str(alice["attendee"]) == "mailto:alice@example.com" and alice["attendee"].params["CN"] == "alice"
    assert all(uid.startswith("calendar/") and uid.endswith("@alertflow.example.com") for uid in before)
    assert cli(config, "oncall", "override", "add", "bob", "-s", "calendar", "--from", at(12), "--to", at(14)).exit_code == 0
    after = {str(e["uid"]): e for e in events(server.get("/oncall/calendar.ics", params=window, headers=bearer()).content)}
    assert len(after) == len(before) + 2, "the shift around the override became three pieces"
    noon = datetime.fromisoformat(at(12)).replace(tzinfo=BERLIN).astimezone(timezone.utc)
    [piece] = [e for e in after.values() if e.decoded("dtstart") == noon]
    assert str(piece["summary"]) == "bob on call (calendar)" and "override #" in str(piece["description"])
    [split] = [uid for uid, e in before.items() if e.decoded("dtstart") < noon < e.decoded("dtend")]
    assert after[split].decoded("dtend") == noon and str(after[split]["summary"]) == str(before[split]["summary"])
    assert set(before) - {split} < set(after), "the other shifts keep their UIDs"
    assert server.get("/oncall/nope.ics", headers=bearer()).status_code == 404
    assert server.get("/oncall/calendar.ics", params={"past_days": 32}, headers=bearer()).status_code == 422


def test_a_signed_link_opens_the_feed_without_a_token(api) -> None:  # type: ignore[no-untyped-def]
    """A calendar app (no header) needs the signed link `calendar-url` prints; an altered or another schedule's
    signature is refused (403), no signature asks for a read token (401)."""
    server, config = api
    assert server.get("/oncall/other.ics").status_code == 401
    printed = cli(config, "oncall", "calendar-url", "other")
    url = printed.stdout.strip()
    assert printed.exit_code == 0 and url.startswith("https://alertflow.example.com/oncall/other.ics?sig="), printed.output
    sig = url.partition("sig=")[2]
    feed = server.get("/oncall/other.ics", params={"sig": sig})
    assert feed.status_code == 200 and events(feed.content)
    for path, signature in (("/oncall/other.ics", sig[:-1] + ("1" if sig[-1] == "0" else "0")), ("/oncall/primary.ics", sig)):
        refused = server.get(path, params={"sig": signature})
        assert refused.status_code == 403 and refused.json()["field"] == "sig"


@pytest.mark.anyio
async def test_stored_overrides_win_latest_first_and_removal_keeps_the_record(store) -> None:  # type: ignore[no-untyped-def]
    """On SQLite and PostgreSQL: stored overrides come after the config's, the newest covering an instant wins;
    a removed one stops counting but stays in the audit; removing twice or an unknown id is refused."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    config_override = {"person": "carol", "start": (now + timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=5)).isoformat()}
    settings = Settings(people=PEOPLE, schedules={"primary": SCHEDULES["primary"] | {"overrides": [config_override]}})
    overrides = OverrideStore(store)
    wide = await overrides.add("primary", "bob", now + timedelta(hours=2), now + timedelta(hours=6), "wide", "dave", "api_token", now)
    narrow = await overrides.add("primary", "alice", now + timedelta(hours=3), now + timedelta(hours=4), "", "dave", "api_token", now)
    await overrides.add("primary", "gone", now, now + timedelta(hours=9), "", "dave", "api_token", now)  # left the config: skipped
    from alertflow.config.oncall import on_call

    def who(schedules: dict[str, Any], hours: float) -> tuple[str | None, str]:
        return on_call(schedules["primary"], now + timedelta(hours=hours))

    schedules = await current_schedules(store, settings, now)
    assert [who(schedules, h) for h in (1.5, 2.5, 3.5, 5.5)] == [
        ("carol", "override"), ("bob", f"override #{wide.id}"), ("alice", f"override #{narrow.id}"), ("bob", f"override #{wide.id}")
    ]  # fmt: skip
    removed = await overrides.remove(narrow.id, "erin", "api_tokens.oncall", now + timedelta(minutes=1))
    assert (removed.removed_by, removed.removed_via) == ("erin", "api_tokens.oncall")
    assert who(await current_schedules(store, settings, now), 3.5) == ("bob", f"override #{wide.id}")
    with pytest.raises(Conflict, match="already removed by erin"):
        await overrides.remove(narrow.id, "erin", "api_token", now)
    with pytest.raises(NotFound):
        await overrides.remove(999, "erin", "api_token", now)
    assert [o.id for o in await overrides.live(now + timedelta(hours=7))] == [3], "only what ends after the instant"
    trail = [(e.action, e.override_id, e.by) for e in await overrides.audit("primary")]
    assert trail == [("added", 1, "dave"), ("added", 2, "dave"), ("added", 3, "dave"), ("removed", 2, "erin")]
