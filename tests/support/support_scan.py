"""Scanning what a process wrote for a PIN, without false alarms from chance digits.

A 4-digit PIN occurs by chance inside SHA-256 heads, random ids, timestamps and
counters, so a PIN counts as found only as a whole token (not flanked by a
letter or digit), as typed or as the hex of its ASCII bytes (an APDU dump).
Letter-and-digit signature PINs cannot occur by chance and are found either way.
"""
from __future__ import annotations

import re


def pin_in_logs(pin: str, logs: bytes) -> bool:
    """Whether ``pin`` shows in ``logs`` as typed or as hex of its ASCII bytes (APDU dumps).

    A PIN with a letter is searched anywhere; an all-digit PIN only as a whole token.
    """
    raw = pin.encode("ascii")
    if not pin.isdigit() and raw in logs:
        return True
    forms = [raw, raw.hex().encode(), raw.hex(" ").encode()]
    return any(re.search(rb"(?<![0-9A-Za-z])" + re.escape(f) + rb"(?![0-9A-Za-z])", logs, re.IGNORECASE)
               for f in forms)
