"""What the system's pcscd is set up to do, read from its files: the two set-ups that leak a PIN.

Why: the PIN goes to the card in clear inside a VERIFY APDU, through pcscd.

* ``pcscd -a`` / ``--apdu`` logs every APDU, so every PIN would land in the journal.
  The option hides in combined short flags too (``-fda`` is ``-f -d -a``), in
  ``PCSCD_ARGS`` of ``/etc/default/pcscd``, in the unit or in a drop-in.
* A reader that talks over a network (vsmartcard-vpcd's ``DEVICENAME /dev/null:0x8C7B``
  listens on all interfaces) lets a machine on the LAN attach a virtual card and be
  sent the VERIFY APDU: the PIN.  The package Conflicts with vsmartcard-vpcd; this
  also catches any hand-written ``reader.conf.d`` entry with a ``:port``.

``pin-kiosk run --preflight`` (the unit's ExecStart) refuses to start, one line and
exit 2, when ``findings()`` is not empty.  Parsing is pure (text in, findings out);
``findings(root)`` only reads the files, under ``root`` for tests.
"""
from __future__ import annotations

import glob
import os
import re
import shlex
from dataclasses import dataclass

#: pcscd's short options that take an argument: the rest of a combined flag is that argument.
_OPTIONS_WITH_ARGUMENT = frozenset("ctsr")
#: Files that can give pcscd its arguments (Debian 12's unit reads PCSCD_ARGS from /etc/default/pcscd).
ARGUMENT_FILES = ("etc/default/pcscd", "lib/systemd/system/pcscd.service", "usr/lib/systemd/system/pcscd.service",
                  "etc/systemd/system/pcscd.service", "etc/systemd/system/pcscd.service.d/*.conf",
                  "run/systemd/system/pcscd.service.d/*.conf")
#: Reader configurations pcscd reads at start (serial and network readers live here, not USB ones).
READER_FILES = ("etc/reader.conf", "etc/reader.conf.d/*")
_PORT = re.compile(r":(0x[0-9a-fA-F]+|[0-9]+)$")


@dataclass(frozen=True)
class Finding:
    """One reason not to run: the file and why, in words for the one line."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


def logs_apdus(words: list[str]) -> bool:
    """True when pcscd's argument words turn on APDU logging (``-a``, ``--apdu``, ``-fda``, ...)."""
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word == "--":
            break
        if word.startswith("--"):
            if word == "--apdu":
                return True
            continue
        if not word.startswith("-") or word == "-":
            continue
        for i, letter in enumerate(word[1:]):
            if letter == "a":
                return True
            if letter in _OPTIONS_WITH_ARGUMENT:
                skip_next = i == len(word) - 2  # "-c FILE": the next word is the argument
                break
    return False


def argument_words(text: str) -> list[str]:
    """pcscd's argument words in a shell environment file or a systemd unit (comments ignored)."""
    words: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            continue
        if key in ("ExecStart", "ExecStartPre") or key == "PCSCD_ARGS" or key == "Environment":
            try:
                parts = shlex.split(value)
            except ValueError:
                parts = value.split()
            for part in parts:
                name, eq, inner = part.partition("=")
                if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    part = inner  # Environment=PCSCD_ARGS=-a
                words += part.split()  # a quoted PCSCD_ARGS value holds several words
    return words


def network_readers(text: str) -> list[str]:
    """Names of the readers in a pcscd reader configuration that talk over a network."""
    found: list[str] = []
    entry: dict[str, str] = {}

    def close() -> None:
        device, lib = entry.get("DEVICENAME", ""), entry.get("LIBPATH", "")
        if _PORT.search(device) or "vpcd" in os.path.basename(lib):
            found.append(entry.get("FRIENDLYNAME", device or lib).strip('"'))
        entry.clear()

    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        key = key.upper()
        if key == "FRIENDLYNAME" and entry:
            close()
        entry[key] = value.strip()
    if entry:
        close()
    return found


def _files(root: str, patterns: tuple[str, ...]) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        paths += sorted(p for p in glob.glob(os.path.join(root, pattern)) if os.path.isfile(p))
    return paths


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(1 << 20)
    except OSError:
        return ""


def findings(root: str = "/") -> list[Finding]:
    """Every reason, in pcscd's files under ``root``, why a PIN could leave through pcscd."""
    out: list[Finding] = []
    extra_configs: list[str] = []
    for path in _files(root, ARGUMENT_FILES):
        words = argument_words(_read(path))
        shown = "/" + os.path.relpath(path, root)
        if logs_apdus(words):
            out.append(Finding(shown, "pcscd logs every APDU (-a/--apdu), and a VERIFY APDU carries the PIN"))
        for i, w in enumerate(words):  # -c FILE / --config FILE / --config=FILE
            if w in ("-c", "--config") and i + 1 < len(words):
                extra_configs.append(words[i + 1])
            elif w.startswith("--config="):
                extra_configs.append(w.split("=", 1)[1])
    readers = _files(root, READER_FILES) + [os.path.join(root, c.lstrip("/")) for c in extra_configs
                                            if os.path.isfile(os.path.join(root, c.lstrip("/")))]
    for path in readers:
        for name in network_readers(_read(path)):
            out.append(Finding("/" + os.path.relpath(path, root),
                               f"reader {name!r} talks over a network: a machine on the LAN could "
                               f"receive the PIN (remove vsmartcard-vpcd or the entry)"))
    return out
