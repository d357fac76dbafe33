"""rules/schema.py + alertflow/yamlmodel.py: loading a rules file, with line-precise errors."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent, indent

import pytest

from alertflow.errors import ConfigError
from alertflow.flows.runtime import retry_delays
from alertflow.models import FailoverAction, PagingAction, RecoveryAction, Severity, TimelineAction
from alertflow.rules import Rule, parse_rules
from alertflow.rules.matchers import Op

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

VALID = """\
rules:
  - id: service-down
    description: A production service stopped answering
    matchers: ['alertname=~"ServiceDown|InstanceDown"', 'env!="staging"']
    severity: warning
    group_by: [service]
    actions:
      - flow: paging
        params: {channel: "#oncall"}
        retry: {retries: 3, retry_delay_seconds: [1, 5, 10]}
      - flow: timeline
      - flow: failover
        params: {switch: checkout}
        retry: {retries: 2, exponential_backoff: 2}
      - flow: recovery
        params: {runbook: restart-checkout}
  - id: catch-all
    description: Everything else
"""


def load_error(text: str) -> str:
    with pytest.raises(ConfigError) as excinfo:
        parse_rules(dedent(text), "rules.yaml")
    return str(excinfo.value)


def test_valid_file_loads_with_parsed_matchers() -> None:
    """Matchers in a valid file arrive parsed, with severity and group_by as written."""
    rule = parse_rules(VALID, "rules.yaml").rules[0]
    assert [(m.name, m.op, m.value) for m in rule.matchers] == [
        ("alertname", Op.re, "ServiceDown|InstanceDown"),
        ("env", Op.ne, "staging"),
    ]
    assert rule.severity is Severity.warning
    assert rule.group_by == ["service"]


def test_valid_file_types_each_action_by_its_flow() -> None:
    """Each action becomes the Action subclass of its flow, with typed params and retries."""
    paging, timeline, failover, recovery = parse_rules(VALID, "rules.yaml").rules[0].actions
    assert isinstance(paging, PagingAction) and paging.params.channel == "#oncall"
    assert retry_delays(paging.retry) == [1, 5, 10]
    assert isinstance(timeline, TimelineAction)
    assert isinstance(failover, FailoverAction) and (failover.params.switch, failover.params.to) == ("checkout", "standby")
    assert retry_delays(failover.retry) == [2, 4]
    assert isinstance(recovery, RecoveryAction) and recovery.params.runbook == "restart-checkout"


def test_rule_defaults() -> None:
    """A rule with only id and description accepts every alert of any severity, grouped by rule alone."""
    rule = parse_rules(VALID, "rules.yaml").get("catch-all")
    assert rule is not None
    assert (rule.matchers, rule.severity, rule.group_by, rule.actions) == ([], Severity.info, [], [])


@pytest.mark.parametrize("text", [pytest.param("", id="empty"), pytest.param("# only a comment\n", id="comment-only")])
def test_empty_file_is_an_empty_ruleset(text: str) -> None:
    """An empty rules file loads as no rules, not as an error."""
    assert parse_rules(text, "rules.yaml").rules == []


def test_example_rules_file_is_valid() -> None:
    """The shipped examples/rules.yaml loads."""
    ruleset = parse_rules((EXAMPLES / "rules.yaml").read_text(), "examples/rules.yaml")
    assert [rule.id for rule in ruleset.rules] == ["service-down", "critical-elsewhere"]


# Each case's text follows HEAD, so it starts at line 4: more keys of rule `a`, or a new rule if it opens with `- `.
HEAD = "rules:\n  - id: a\n    description: d\n"


def with_head(text: str) -> str:
    body = dedent(text)
    return HEAD + indent(body, "  " if body.startswith("- ") else "    ")


ERRORS = [
    pytest.param(
        """\
        matchers:
          - 'service="api"'
          - 'service=="x'
        """,
        "rules.yaml:6:9: rules.0.matchers.1",
        """not a label matcher: 'service=="x'""",
        id="bad-matcher",
    ),
    pytest.param(
        """\
        matchers: ['host=~"web("']
        """,
        "rules.yaml:4:16: rules.0.matchers.0",
        "invalid regex",
        id="bad-regex",
    ),
    pytest.param(
        """\
        actions:
          - flow: pager
        """,
        "rules.yaml:5:9: rules.0.actions.0",
        "'pager' found using 'flow' does not match any of the expected tags: 'timeline', 'paging', 'failover', 'recovery'",
        id="unknown-flow",
    ),
    pytest.param(
        """\
        actions:
          - flow: failover
            params:
              to: standby
              swich: lb
        """,
        "rules.yaml:8:18: rules.0.actions.0.params.swich",
        "Extra inputs are not permitted",
        id="unknown-param-key",
    ),
    pytest.param(
        """\
        actions:
          - flow: failover
            params:
              to: standby
        """,
        "rules.yaml:7:11: rules.0.actions.0.params.switch",
        "Field required",
        id="missing-required-param",
    ),
    pytest.param(
        """\
        actions:
          - flow: recovery
        """,
        "rules.yaml:5:9: rules.0.actions.0.params",
        "Field required",
        id="missing-params",
    ),
    pytest.param(
        """\
        - id: b
          description: e
          actions:
            - flow: paging
            - flow: timeline
            - flow: paging
        """,
        "rules.yaml:9:15: rules.1.actions.2.flow",
        "flow paging appears twice",
        id="same-flow-twice",
    ),
    pytest.param(
        """\
        actions:
          - flow: paging
            retry: {retries: 2, retry_delay_seconds: [1, -1]}
        """,
        "rules.yaml:6:16: rules.0.actions.0.retry",
        "retry delays must be >= 0",
        id="negative-delay",
    ),
    pytest.param(
        """\
        actions:
          - flow: timeline
            retry:
              retries: 2
              retry_delay_seconds: 3
              exponential_backoff: 2
        """,
        "rules.yaml:7:11: rules.0.actions.0.retry",
        "use either retry_delay_seconds or exponential_backoff, not both",
        id="two-delay-styles",
    ),
    pytest.param(
        """\
        - id: Bad_ID
          description: d
        """,
        "rules.yaml:4:9: rules.1.id",
        "String should match pattern",
        id="bad-rule-id",
    ),
    pytest.param(
        """\
        groupby: [service]
        """,
        "rules.yaml:4:14: rules.0.groupby",
        "Extra inputs are not permitted",
        id="unknown-rule-key",
    ),
    pytest.param(
        """\
        severity: urgent
        """,
        "rules.yaml:4:15: rules.0.severity",
        "Input should be 'info', 'warning', 'error' or 'critical'",
        id="unknown-severity",
    ),
    pytest.param(
        """\
        - id: b
        """,
        "rules.yaml:4:5: rules.1.description",
        "Field required",
        id="missing-description",
    ),
]


@pytest.mark.parametrize(("text", "where", "message"), ERRORS)
def test_error_names_file_line_column_and_path(text: str, where: str, message: str) -> None:
    """Every validation problem is reported as file:line:col: dotted.path: message at the offending line."""
    lines = load_error(with_head(text)).splitlines()
    assert any(line.startswith(f"{where}: ") and message in line for line in lines), lines


def test_misspelled_param_also_reports_the_missing_one() -> None:
    """A typo such as `swich` reports both the unknown key and the required key it failed to set."""
    lines = load_error(
        """\
        rules:
          - id: a
            description: d
            actions:
              - flow: failover
                params: {swich: lb}
        """
    ).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["rules.0.actions.0.params.switch", "rules.0.actions.0.params.swich"]
    assert all(line.startswith("rules.yaml:6:") for line in lines)


def test_duplicate_rule_id_points_at_the_second_rule() -> None:
    """A repeated rule id is reported at the line of the rule that repeats it, not the top of the file."""
    message = load_error(
        """\
        # alertflow rules
        rules:
          - id: a
            description: first
          - id: a
            description: second
        """
    )
    assert "duplicate rule id 'a'" in message
    assert message.startswith("rules.yaml:5:"), message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("rules:\n  - id: a\n   description: d\n", "rules.yaml:3:4", id="bad-indent"),
        pytest.param("rules:\n  - id: a: b\n", "rules.yaml:2:10", id="colon-in-plain-value"),
        pytest.param("rules: [\n", "rules.yaml:2:1", id="unclosed-flow-sequence"),
    ],
)
def test_yaml_syntax_error_gives_line_and_column(text: str, where: str) -> None:
    """A YAML syntax error is a ConfigError with file:line:col, not a PyYAML traceback."""
    message = load_error(text)
    assert message.startswith(f"{where}: invalid YAML: "), message


@pytest.mark.parametrize(
    ("group_by", "labels", "key"),
    [
        pytest.param(["service"], {"service": "api", "env": "prod"}, "r|service=api", id="one-label"),
        pytest.param(
            ["alertname", "service"], {"service": "api", "alertname": "Down"}, "r|alertname=Down|service=api", id="order-as-written"
        ),
        pytest.param(["service"], {"env": "prod"}, "r|service=", id="missing-label-is-empty"),
        pytest.param([], {"service": "api", "env": "prod"}, "r", id="empty-group-by"),
        pytest.param(["..."], {"service": "api", "env": "prod"}, "r|env=prod|service=api", id="every-label-sorted"),
        pytest.param(["..."], {}, "r", id="every-label-of-none"),
    ],
)
def test_incident_key(group_by: list[str], labels: dict[str, str], key: str) -> None:
    """The incident key is the rule id plus the group_by labels (all of them, sorted, for ["..."])."""
    assert Rule(id="r", description="d", group_by=group_by).incident_key(labels) == key


def test_incident_key_ignores_label_order_and_ungrouped_labels() -> None:
    """Alerts differing only in labels outside group_by, or in label order, share one key."""
    rule = Rule(id="r", description="d", group_by=["service"])
    every = Rule(id="r", description="d", group_by=["..."])
    assert rule.incident_key({"service": "api", "instance": "1"}) == rule.incident_key({"instance": "2", "service": "api"})
    assert every.incident_key({"a": "1", "b": "2"}) == every.incident_key({"b": "2", "a": "1"})


def test_incident_keys_of_different_groups_never_collide() -> None:
    """Label values containing the key's separators are escaped, so two different groups get two keys."""
    rule = parse_rules("rules:\n  - id: r\n    description: d\n    group_by: [a, b]\n").rules[0]
    first = rule.incident_key({"a": "1|b=2", "b": ""})
    second = rule.incident_key({"a": "1", "b": "2|b="})
    assert first != second
    assert rule.incident_key({"a": "x\\", "b": "|y"}) != rule.incident_key({"a": "x\\|", "b": "y"})
