"""alertflow: incident-response complex-event processing on Prefect."""

__version__ = "0.1.0"
