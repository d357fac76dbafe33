"""Logging for alertflow's processes: one line per event, UTC timestamps.

Settings objects print secrets as ``**********`` (``SecretStr``), and no module
logs request headers or bodies, so secrets do not reach these lines.
"""

from __future__ import annotations

import logging
import time


def configure_logging(level: int = logging.INFO) -> None:
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger("alertflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
