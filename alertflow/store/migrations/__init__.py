"""Alembic's script directory for alertflow's schema: ``env.py`` and one revision per change in ``versions/``.

Why a package: the revisions ship inside the wheel and run from there
(alertflow/store/schema.py points Alembic at this folder; there is no
alembic.ini). README.md here says how to add a revision.
"""
