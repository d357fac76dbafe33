"""Switch and runbook settings, placeholders, HAProxy's server-state answer, and failback derivation (no I/O)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from alertflow.config.responses import HaproxySwitchSettings, HttpSwitchSettings, RunDeploymentStep, WaitStep
from alertflow.config.settings import load_settings
from alertflow.errors import ConfigError, PermanentIntegrationError
from alertflow.integrations.switches.haproxy import admin_state, parse_servers_state
from alertflow.models import FailoverAction, RetryPolicy
from alertflow.templates import render

HAPROXY = """\
    switches:
      lb:
        kind: haproxy
        admin: 127.0.0.1:9999
        backend: checkout
        targets:
          primary: {server: web1, health_url: http://10.0.0.1/healthz}
          standby: {server: web2, health_url: http://10.0.0.2/healthz, marker: blue}
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "alertflow.yaml"
    path.write_text(dedent(text))
    return load_settings(path)


def test_switch_kinds_are_told_apart_and_url_only_means_http(tmp_path: Path) -> None:
    """`kind: haproxy` gives HAProxy settings; a switch with only `url` (older configs) is an HTTP switch."""
    settings = load(tmp_path, HAPROXY + "      old:\n        url: http://127.0.0.1:1/switch\n")
    lb, old = settings.switches["lb"], settings.switches["old"]
    assert isinstance(lb, HaproxySwitchSettings) and lb.retire == "drain"
    assert (lb.marker("primary"), lb.marker("standby"), lb.marker("elsewhere")) == ("web1", "blue", "elsewhere")
    assert isinstance(old, HttpSwitchSettings) and old.method == "POST" and old.body == '{"active": "{target}"}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "switches:\n  lb:\n    kind: haproxy\n    admin: x:1\n    backend: b\n    targets:\n      primary: {server: a, health_url: u}\n",
            "alertflow.yaml:7:7: switches.lb.targets: Dictionary should have at least 2 items",
            id="haproxy-needs-two-targets",
        ),
        pytest.param(
            'switches:\n  s:\n    url: http://x\n    body: \'{"to": "{label}"}\'\n',
            "alertflow.yaml:4:11: switches.s.body: unknown placeholder {label}; allowed: {incident_id}, {service}, {switch}, {target}",
            id="unknown-body-placeholder",
        ),
        pytest.param(
            "runbooks:\n  r:\n    steps: [{kind: shell, name: s, argv: [restart, 'svc-{service}']}]\n    verify: {url: http://x}\n",
            "a placeholder must be a whole argument",
            id="placeholder-inside-an-argument",
        ),
        pytest.param(
            "runbooks:\n  r:\n    steps: [{kind: run_deployment, name: d, deployment: a/b, parameters: {svc: 'x-{service}'}}]\n"
            "    verify: {url: http://x}\n",
            "a placeholder must be a whole parameter value",
            id="placeholder-inside-a-deployment-parameter",
        ),
        pytest.param(
            "runbooks:\n  r:\n    steps: [{kind: run_deployment, name: d, deployment: a/b, parameters: {svc: '{servce}'}}]\n"
            "    verify: {url: http://x}\n",
            "unknown placeholder {servce}; allowed: {incident_id}, {runbook}, {service}",
            id="unknown-deployment-parameter-placeholder",
        ),
        pytest.param(
            "runbooks:\n  r:\n    steps: [{kind: shell, name: s, argv: ['{service}']}]\n    verify: {url: http://x}\n",
            "the program (argv[0]) cannot hold a placeholder",
            id="placeholder-as-program",
        ),
        pytest.param(
            "runbooks:\n  r:\n    steps: [{kind: http, name: a, url: u}, {kind: http, name: a, url: v}]\n    verify: {url: http://x}\n",
            "step names must be unique",
            id="duplicate-step-names",
        ),
        pytest.param(
            "runbooks:\n  r:\n    steps: [{kind: run_deployment, name: a, deployment: nodeployment}]\n    verify: {url: http://x}\n",
            "String should match pattern",
            id="deployment-needs-flow-slash-name",
        ),
    ],
)
def test_bad_response_settings_are_refused_with_their_line(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake in a switch or runbook is a ConfigError naming the place and the problem."""
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert message in str(raised.value)


def test_runbook_step_kinds_and_their_own_retries(tmp_path: Path) -> None:
    """All four step kinds load; a step's own retry policy is kept, others default to the action's (None)."""
    settings = load(
        tmp_path,
        """\
        runbooks:
          r:
            steps:
              - {kind: http, name: a, url: http://x, token: t}
              - {kind: shell, name: b, argv: [restart, '{service}'], retry: {retries: 4, exponential_backoff: 1}}
              - {kind: wait_until_healthy, name: c, url: http://x/health, timeout_seconds: 5}
              - {kind: run_deployment, name: d, deployment: other-flow/prod, parameters: {incident: '{incident_id}'}}
            verify: {url: http://x/health}
        """,
    )
    a, b, c, d = settings.runbooks["r"].steps
    assert a.retry is None and b.retry == RetryPolicy(retries=4, exponential_backoff=1)
    assert isinstance(c, WaitStep) and c.timeout_seconds == 5 and isinstance(d, RunDeploymentStep)
    assert str(a.token) == "**********" and a.token is not None and a.token.get_secret_value() == "t"


@pytest.mark.parametrize(
    ("template", "values", "json_string", "expected"),
    [
        pytest.param('{"active": "{target}"}', {"target": "standby"}, True, '{"active": "standby"}', id="json-braces-kept"),
        pytest.param('{"s": "{service}"}', {"service": 'a"b\\c'}, True, '{"s": "a\\"b\\\\c"}', id="json-escaped"),
        pytest.param("{service}", {"service": "a b;c"}, False, "a b;c", id="plain"),
        pytest.param("{unknown} {0.__class__}", {"service": "x"}, False, "{unknown} {0.__class__}", id="nothing-else-substituted"),
    ],
)
def test_render_substitutes_only_known_names(template: str, values: dict[str, str], json_string: bool, expected: str) -> None:
    """Placeholders are plain names from a fixed set; JSON bodies get escaped values; no format-string tricks."""
    assert render(template, values, json_string=json_string) == expected


@pytest.mark.parametrize(
    ("flags", "state"),
    [(0, "ready"), (4, "ready"), (5, "maint"), (1, "maint"), (2, "maint"), (8, "drain"), (0x10, "drain"), (0x20, "maint"), (9, "maint")],
)
def test_haproxy_admin_state_from_flags(flags: int, state: str) -> None:
    """srv_admin_state bits map to ready/drain/maint; 0x04 (`disabled` in the config) alone does not mean maintenance."""
    assert admin_state(flags) == state


def test_parse_servers_state_reads_haproxy_answer() -> None:
    """The answer of HAProxy 2.6 to `show servers state` gives each server's admin state; garbage is refused."""
    header = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight"
    text = f"1\n{header}\n3 checkout 1 web1 127.0.0.1 2 8 1 1\n3 checkout 2 web2 127.0.0.1 2 4 1 1\n\n"
    assert parse_servers_state(text) == {"web1": "drain", "web2": "ready"}
    with pytest.raises(PermanentIntegrationError):
        parse_servers_state("Unknown command.\n")


@pytest.mark.parametrize(("by_hand", "healthy_for"), [(False, 120.0), (True, 0.0)])
def test_failback_is_derived_from_the_failover_action(by_hand: bool, healthy_for: float) -> None:
    """The failback undoes the failover: same switch and retries, target back_to; by hand it does not wait."""
    failover = FailoverAction(params={"switch": "lb", "back_to": "blue", "failback_after_seconds": 120}, retry=RetryPolicy(retries=2))
    failback = failover.failback(by_hand=by_hand)
    assert (failback.params.switch, failback.params.to, failback.params.healthy_for_seconds) == ("lb", "blue", healthy_for)
    assert failback.retry == failover.retry


def test_rules_check_names_failover_targets_the_switch_lacks(tmp_path: Path) -> None:
    """`alertflow rules check` with a config reports a failover `to`/`back_to` that is not a target of its switch, with its line."""
    from alertflow.cli.rulecheck import check_rules

    config = tmp_path / "alertflow.yaml"
    config.write_text(dedent(HAPROXY))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: r\n    description: d\n    actions:\n      - flow: failover\n        params: {switch: lb, to: green}\n"
    )
    problems, _ = check_rules(rules, config)
    assert problems == [f"{rules}:6:34: rules.0.actions.0.params.to: switch lb has no target 'green'"]
