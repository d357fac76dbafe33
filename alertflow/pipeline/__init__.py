"""From accepted alert to decided response: inbox writer, engine driver, decisions, dispatch.

Owns: group commit of webhook alerts into the inbox (inbox.py); the one ordered
consumer that runs the rule engine (consumer.py) and turns its decisions into
rows (decisions.py); the outbox drain into Prefect flow runs (dispatch.py);
and the wiring of the three stages in one process (stages.py).
May import: store, rules and the vocabulary. Never api, cli, worker or flows.
"""
