"""Paging shared by the processes that page: the announcer (first pages, API process) and the paging flow (worker).

Owns: who a step reaches and with what message (recipients.py); the announcer
that sends each new incident's first page at decision time, in digests when a
storm outruns a target's rate limit (announcer.py, digest.py).
May import: store, integrations (notifiers), config and the vocabulary. Never
pipeline, api, cli, worker or flows; the pipeline and the flows import it.
"""
