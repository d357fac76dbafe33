"""Notifiers: the ways alertflow reaches people (Slack, PagerDuty, outgoing webhooks)."""
