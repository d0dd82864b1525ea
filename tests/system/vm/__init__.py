"""The virtual counter: image, QEMU machine, VSCard card, uinput panel, guest agent (test-only)."""
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[2]
if str(_TESTS) not in sys.path:  # the shared test support modules (support_touch, support_pty, ...)
    sys.path.insert(0, str(_TESTS))
