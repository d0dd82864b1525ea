"""Logging: one line per event on stderr, where journald picks it up.

Every module logs through ``logging.getLogger("pin_kiosk.<area>")``.  The
formatter keeps each record on one line (newlines escaped, exceptions reduced
to their type and message), so a log line can be grepped and a record can
never smuggle a multi-line dump.  PIN material cannot reach a log because the
only holder of a PIN, ``kiosk.pin.Pin``, formats as a mask.

Under systemd, stderr is a journal stream (``JOURNAL_STREAM`` names its device and
inode).  Each line then starts with its syslog priority, ``<4>`` for a warning
(sd-daemon(3)), so ``journalctl -p warning -u pin-kiosk`` shows the warnings and
errors only.  On a terminal or in a pipe the prefix would be noise, so it is only
written when stderr is the very stream systemd described.
"""
from __future__ import annotations

import io
import logging
import os
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


#: syslog priorities (sd-daemon(3) ``<N>`` prefixes) of Python's levels
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a Python log level (levels between two named ones round down)."""
    for threshold in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= threshold:
            return SYSLOG_PRIORITY[threshold]
    return 7


def is_journal_stream(stream, environ=os.environ) -> bool:
    """True when ``stream`` is the journal stream systemd named in ``JOURNAL_STREAM`` (``dev:inode``)."""
    want = environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in want.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError, io.UnsupportedOperation):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class OneLineFormatter(logging.Formatter):
    """``LEVEL area: message`` with any newline escaped; exceptions by type and place only.

    ``journal=True`` puts the record's syslog priority in front (``<4>WARNING ...``).
    """

    def __init__(self, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name.removeprefix('pin_kiosk.')}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" [{describe_exception(record.exc_info[1])}]"
        text = text.replace("\r", "\\r").replace("\n", "\\n")
        return f"<{syslog_priority(record.levelno)}>{text}" if self.journal else text


def setup_logging(level: str = "info", stream=None) -> None:
    """Send ``pin_kiosk.*`` records at ``level`` and above to stderr, one line each."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(journal=is_journal_stream(stream)))
    root = logging.getLogger("pin_kiosk")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
