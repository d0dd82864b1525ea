"""The test tree's one import rule and its markers.

Tests are grouped by capability (``touch/``, ``card/``, ``console/``, ``screen/``, ``session/``,
``calibration/``, ``ops/``, ``e2e/``; ``system/`` for the virtual counter).  Helpers live in
``tests/support/`` as ``support_<area>.py`` and are imported by bare name
(``from support_pty import open_pty``): this file puts that folder on ``sys.path`` once, so no
test module is ever imported as a helper and no test does path arithmetic of its own
(``support_repo.ROOT`` is the repository).

Markers (registered in pyproject.toml): ``stack`` for a test that runs a real stack (pcscd +
vpcd, ptys, FIFOs, subprocesses, SDL's dummy driver), ``system`` for the virtual counter under
QEMU.  ``scripts/dev test --fast`` runs ``-m "not stack and not system"``: the pure core.
"""
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

import os
import subprocess

import pytest

#: What a real stack is made of, as far as a test can tell: a process, a pty, a FIFO, an SDL window.
STACK_CALLS = ((subprocess.Popen, "__init__"), (os, "openpty"), (os, "mkfifo"))


@pytest.fixture(autouse=True)
def _unmarked_tests_start_no_stack(request, monkeypatch):
    """A test not marked ``stack``/``system`` that starts a process, a pty, a FIFO or a window fails at once.

    This keeps the markers honest: ``--fast`` really is the pure core, and a new real-stack test
    cannot slip into it unmarked.
    """
    if request.node.get_closest_marker("stack") or request.node.get_closest_marker("system"):
        yield
        return
    name = request.node.nodeid

    def refuse(*_args, **_kwargs):
        raise AssertionError(f"{name} runs a real stack: mark it @pytest.mark.stack")
    for owner, attr in STACK_CALLS:
        monkeypatch.setattr(owner, attr, refuse)
    import sys
    pygame = sys.modules.get("pygame")
    if pygame is not None:
        monkeypatch.setattr(pygame.display, "set_mode", refuse)
    yield
