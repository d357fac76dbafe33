"""``alertflow worker``: serve the response deployments and run their flow runs.

Owns: registering the deployments and running their flow runs in-process,
pages first (runner.py).
May import: flows, the vocabulary. Never api or cli.
"""
