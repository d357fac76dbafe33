"""``alertflow``: the command line, and ``alertflow up``, the whole system in one command.

Owns: the typer app (main.py) and one module per command group, terminal
rendering (render.py), the API client every command shares (client.py), and
the local stand-ins of ``--sandbox`` (sandbox.py).
May import: anything below it (api, worker, pipeline, store, rules,
integrations, the vocabulary). Nothing imports the CLI.
"""
