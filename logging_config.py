"""Logging setup: the only place handlers are created. Called once by main.py."""
from __future__ import annotations

import logging
import sys

FORMAT = "[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


def setup_logging(level: str = "INFO", quiet: bool = False) -> None:
    """Send log lines to stderr; results go to stdout from main.py only."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    handler.setLevel(logging.WARNING if quiet else getattr(logging, level.upper(), logging.INFO))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for noisy in ("urllib3", "matplotlib", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
