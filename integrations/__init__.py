"""Outside systems by capability: sources, notifiers, traffic switches and runbook steps.

Each capability is one small Protocol in its package's ``__init__`` and one
registry, so adding a vendor is one module plus its settings model:

- ``sources/``: webhook bodies into ``Alert``s (one module per sender), and the
  registry of endpoints this process serves (registry.py);
- ``notifiers/``: reaching people (Slack, PagerDuty, outgoing webhooks);
- ``switches/``: moving a service's traffic (HAProxy, an HTTP API), and the
  probe through the front end that verifies a move;
- ``steps/``: runbook steps (HTTP calls, shell commands, health waits).

Integrations take their settings (a pydantic model, secrets as ``SecretStr``)
and an injected client, so tests point them at real servers on loopback.
Vendor errors leave as ``RetryableIntegrationError`` or
``PermanentIntegrationError``; flows retry only the first kind.
May import: the vocabulary (models, errors, config, templates, auth).
Never rules, flows, Prefect, store, pipeline, api or cli.
"""
