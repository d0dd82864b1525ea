"""The virtual counter: image, QEMU machine, VSCard card, uinput panel, guest agent (test-only)."""
import sys
from pathlib import Path

_SUPPORT = Path(__file__).resolve().parents[2] / "support"
if str(_SUPPORT) not in sys.path:  # tests/conftest.py does this under pytest; ``python -m vm.image`` too
    sys.path.insert(0, str(_SUPPORT))
