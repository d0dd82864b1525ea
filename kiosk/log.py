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


def describe_exception(exc: BaseException) -> str:
    """``KeyError at kiosk/app.py:598 in _neighbours``: the type and where it was raised.

    Never the exception's message: an unexpected KeyError's message is the key that
    was looked up, and on this terminal that can be a keypad key, which is PIN
    material.  The raise site is enough to find the bug; ``--debug`` gives more.
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(exc).__name__
    code = tb.tb_frame.f_code
    parts = code.co_filename.replace("\\", "/").split("/")
    where = "/".join(parts[-2:])
    return f"{type(exc).__name__} at {where}:{tb.tb_lineno} in {code.co_name}"


class OneLineFormatter(logging.Formatter):
    """``LEVEL area: message`` with any newline escaped; exceptions by type and place only."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name.removeprefix('pin_kiosk.')}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" [{describe_exception(record.exc_info[1])}]"
        return text.replace("\r", "\\r").replace("\n", "\\n")


def setup_logging(level: str = "info", stream=None) -> None:
    """Send ``pin_kiosk.*`` records at ``level`` and above to stderr, one line each."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(OneLineFormatter())
    root = logging.getLogger("pin_kiosk")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
