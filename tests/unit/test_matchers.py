"""rules/matchers.py: Alertmanager-style label matchers, parsed and evaluated."""

from __future__ import annotations

import pytest

from alertflow.rules.matchers import Matcher, Op


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        pytest.param('service="api"', "service", Op.eq, "api", id="eq-quoted"),
        pytest.param('env!="staging"', "env", Op.ne, "staging", id="ne-quoted"),
        pytest.param('service=~"api|web"', "service", Op.re, "api|web", id="regex"),
        pytest.param('instance!~"canary-.*"', "instance", Op.nre, "canary-.*", id="not-regex"),
        pytest.param(r'msg="say \"hi\""', "msg", Op.eq, 'say "hi"', id="escaped-quotes"),
        pytest.param(r'path="C:\\temp"', "path", Op.eq, "C:\\temp", id="escaped-backslash"),
        pytest.param("env=prod", "env", Op.eq, "prod", id="unquoted"),
        pytest.param("service=~api|web", "service", Op.re, "api|web", id="unquoted-regex"),
        pytest.param('  env  !=  "prod"  ', "env", Op.ne, "prod", id="whitespace-around-tokens"),
        pytest.param("env = prod ", "env", Op.eq, "prod", id="unquoted-trailing-space-dropped"),
        pytest.param('env=""', "env", Op.eq, "", id="empty-quoted"),
        pytest.param("env=", "env", Op.eq, "", id="empty-unquoted"),
        pytest.param('_private_1="x"', "_private_1", Op.eq, "x", id="underscore-name"),
    ],
)
def test_parse(text: str, name: str, op: Op, value: str) -> None:
    """Each operator, quoting style and spacing parses into name, operator and unescaped value."""
    matcher = Matcher.parse(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param(r'instance=~"node-\d+"', r"node-\d+", id="spurious-escape-kept"),
        pytest.param(r'msg="line1\nline2"', "line1\nline2", id="backslash-n-is-newline"),
    ],
)
def test_backslash_escapes_follow_alertmanager(text: str, value: str) -> None:
    r"""Only \" \\ and \n are escapes (as in Alertmanager); any other backslash stays literal."""
    assert Matcher.parse(text).value == value


def test_regex_with_backslash_class_matches_digits() -> None:
    r"""A regex such as node-\d+ written in a rule matches node-12, as it does in Alertmanager."""
    assert Matcher.parse(r'instance=~"node-\d+"').matches({"instance": "node-12"})


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        pytest.param('service="api"', {"service": "api"}, True, id="eq-hit"),
        pytest.param('service="api"', {"service": "API"}, False, id="eq-case-sensitive"),
        pytest.param('service!="api"', {"service": "web"}, True, id="ne-hit"),
        pytest.param('service=~"api"', {"service": "api"}, True, id="regex-exact"),
        pytest.param('service=~"api"', {"service": "api-2"}, False, id="regex-anchored-end"),
        pytest.param('service=~"api"', {"service": "my-api"}, False, id="regex-anchored-start"),
        pytest.param('service=~"api|web"', {"service": "web"}, True, id="alternation-hit"),
        pytest.param('service=~"api|web"', {"service": "webx"}, False, id="alternation-anchored"),
        pytest.param('instance!~"canary-.*"', {"instance": "canary-1"}, False, id="not-regex-excludes"),
        pytest.param('instance!~"canary-.*"', {"instance": "prod-1"}, True, id="not-regex-passes"),
        pytest.param('env=""', {}, True, id="eq-empty-matches-absent"),
        pytest.param('env=""', {"env": "prod"}, False, id="eq-empty-rejects-present"),
        pytest.param('env!="prod"', {}, True, id="ne-matches-absent"),
        pytest.param('env="prod"', {}, False, id="eq-rejects-absent"),
        pytest.param('env!=""', {}, False, id="ne-empty-rejects-absent"),
        pytest.param('env=~".*"', {}, True, id="regex-star-matches-absent"),
        pytest.param('env=~".+"', {}, False, id="regex-plus-rejects-absent"),
        pytest.param('env!~".+"', {}, True, id="not-regex-plus-matches-absent"),
    ],
)
def test_matches_with_alertmanager_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    """Regexes are fully anchored and a missing label reads as the empty string."""
    assert Matcher.parse(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("service", "not a label matcher", id="no-operator"),
        pytest.param('="api"', "not a label matcher", id="no-name"),
        pytest.param('1service="api"', "not a label matcher", id="name-starts-with-digit"),
        pytest.param('service~"api"', "not a label matcher", id="unknown-operator"),
        pytest.param('service="api', "not a label matcher", id="unterminated-quote"),
        pytest.param('service="a"b"', "not a label matcher", id="unescaped-inner-quote"),
        pytest.param('service=a"b', "not a label matcher", id="quote-inside-bare-value"),
        pytest.param("", "not a label matcher", id="empty"),
        pytest.param('service=~"api("', "invalid regex", id="unbalanced-paren"),
        pytest.param('host!~"[a-"', "invalid regex", id="unterminated-class"),
        pytest.param('x=~"*"', "invalid regex", id="nothing-to-repeat"),
    ],
)
def test_invalid_matcher_raises_naming_the_matcher(text: str, problem: str) -> None:
    """Malformed syntax or a regex that does not compile raises ValueError at parse time, quoting the matcher."""
    with pytest.raises(ValueError, match=problem) as excinfo:
        Matcher.parse(text)
    assert repr(text) in str(excinfo.value)


def test_equality_operators_do_not_compile_regexes() -> None:
    """A value that is not a valid regex is fine with = and !=, which compare literally."""
    matcher = Matcher.parse('path="a(b"')
    assert matcher.matches({"path": "a(b"})
    assert not Matcher.parse('path!="a(b"').matches({"path": "a(b"})


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("env = prod", 'env="prod"', id="unquoted-gets-quoted"),
        pytest.param('env!~"stag.*"', 'env!~"stag.*"', id="regex-unchanged"),
        pytest.param(r'msg="say \"hi\""', r'msg="say \"hi\""', id="quotes-re-escaped"),
        pytest.param(r'path="C:\\temp"', r'path="C:\\temp"', id="backslash-re-escaped"),
        pytest.param("env=", 'env=""', id="empty"),
    ],
)
def test_str_is_canonical(text: str, canonical: str) -> None:
    """str(Matcher) writes the canonical quoted form with quotes and backslashes escaped."""
    assert str(Matcher.parse(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('service="api"', id="eq"),
        pytest.param("env!=prod", id="ne-unquoted"),
        pytest.param(r'msg=~"say \"(hi|yo)\".*"', id="regex-with-quotes"),
        pytest.param(r'path!~"C:\\\\temp"', id="regex-with-backslashes"),
        pytest.param('x=""', id="empty"),
    ],
)
def test_str_round_trips_through_parse(text: str) -> None:
    """Parsing str(m) gives back an equal matcher that matches the same labels."""
    matcher = Matcher.parse(text)
    again = Matcher.parse(str(matcher))
    assert again == matcher
    for labels in ({}, {matcher.name: matcher.value}, {matcher.name: 'say "hi" there'}, {matcher.name: "C:\\temp"}):
        assert again.matches(labels) == matcher.matches(labels)
