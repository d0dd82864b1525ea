"""The virtual counter's fixtures: one image per package, one booted counter per test module.

Every boot under TCG costs about a minute, so a module shares one counter
where its tests allow (each test leaves it idle, as a clerk would).  The
image is built from the checkout under test (``dpkg-buildpackage`` on a copy,
then mmdebstrap) and cached outside the clone by a hash of its inputs.
``PIN_KIOSK_VM_DEB=path.deb`` uses a package built elsewhere instead.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vm import image as vm_image  # noqa: E402
from vm.counter import Counter  # noqa: E402

from support_kiosk import PINS  # noqa: E402


@pytest.fixture(scope="session")
def counter_image():
    deb = os.environ.get("PIN_KIOSK_VM_DEB")
    if deb:
        deb_path = Path(deb)
    else:
        if not (vm_image.ROOT / "debian" / "control").is_file():
            pytest.skip("this checkout has no debian/ yet (issue 14 lands the package)")
        out = Path(tempfile.mkdtemp(prefix="pin-kiosk-deb-"))
        deb_path = vm_image.build_package(vm_image.ROOT, out)
    yield vm_image.build_image(deb_path)


@pytest.fixture(scope="module")
def counter(counter_image, tmp_path_factory):
    """A booted counter shared by the module's tests."""
    work = Path(tempfile.mkdtemp(prefix="vm-", dir=os.environ.get("PIN_KIOSK_VM_TMP", "/var/tmp")))
    c = Counter(counter_image, work, PINS)
    try:
        c.boot()
        yield c
    finally:
        c.stop(clean=False)
        if os.environ.get("PIN_KIOSK_VM_KEEP"):
            print(f"\nvirtual counter kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
