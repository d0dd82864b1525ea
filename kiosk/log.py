"""Logging: one line per event on stderr, where journald picks it up.

Every module logs through ``logging.getLogger("pin_kiosk.<area>")``.  The
formatter keeps each record on one line (newlines escaped, exceptions reduced
to their type and message), so a log line can be grepped and a record can
never smuggle a multi-line dump.  PIN material cannot reach a log because the
only holder of a PIN, ``kiosk.pin.Pin``, formats as a mask.
"""
from __future__ import annotations

import logging
import sys

LEVELS = ("debug", "info", "warning", "error")


class OneLineFormatter(logging.Formatter):
    """``LEVEL area: message`` with any newline escaped; exceptions as ``Type: message``."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name.removeprefix('pin_kiosk.')}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" [{type(exc).__name__}: {exc}]"
        return text.replace("\r", "\\r").replace("\n", "\\n")


def setup_logging(level: str = "info", stream=None) -> None:
    """Send ``pin_kiosk.*`` records at ``level`` and above to stderr, one line each."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(OneLineFormatter())
    root = logging.getLogger("pin_kiosk")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
