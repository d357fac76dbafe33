"""Fault tests drive the whole system the e2e tests start: the same fixtures, imported, not copied."""

from tests.e2e.conftest import prefect_api, start_system  # noqa: F401  (fixtures: pytest finds them by name here)
