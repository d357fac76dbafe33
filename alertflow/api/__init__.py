"""The HTTP face of alertflow: webhooks in, incidents out, people's commands.

Owns: the FastAPI app (app.py), one router per concern (webhooks, slack, ack links,
silences, responses, inbox, on-call and its calendar feed), request/response plumbing (http.py) and /metrics.
May import: pipeline, store, integrations (sources, Slack) and the vocabulary.
Never cli, worker or flows.
"""
