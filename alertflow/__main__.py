"""``python -m alertflow`` is the CLI (how ``alertflow up`` starts its worker)."""

from alertflow.cli.main import main

main()
