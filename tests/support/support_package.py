"""The Debian package under test: built once per run, and a fresh Debian 12 to install it into.

* ``build_package(out, version)`` runs ``scripts/dev package`` (the documented command), so the
  tests exercise exactly what a user builds.  ``version`` builds the same tree under another
  changelog version: the "previous build" an upgrade starts from.
* ``debian_chroot_tarball()`` is a Debian 12 root made by mmdebstrap from Debian's archive (the
  mirror this machine's apt uses), with the package's runtime Depends already in it, so an
  install in it needs no network.  It is cached outside the clone under a key hashed from its
  inputs (suite, mirror, package list): the first run downloads (~1-2 min), later runs reuse it.
* ``Chroot`` unpacks it into a temporary directory and runs commands in it (``chroot`` in a
  private mount namespace with its own /proc), as root: no systemd runs there, exactly the
  case of an image being built (maintainer scripts must not start anything).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from support_ops import REPO

SUITE = "bookworm"
MIRROR_DEFAULT = "http://deb.debian.org/debian"


def build_package(out: Path, version: str | None = None) -> Path:
    """``scripts/dev package --out OUT [--version V]``; the path of the .deb."""
    argv = [str(REPO / "scripts/dev"), "package", "--out", str(out)]
    if version:
        argv += ["--version", version]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    debs = sorted(out.glob("pin-kiosk_*_all.deb"))
    assert len(debs) == 1, debs
    return debs[0]


_BUILT: dict[str | None, Path] = {}


def built_package(version: str | None = None) -> Path:
    """``build_package`` once per test run and version (the .deb is shared by every test module)."""
    if version not in _BUILT:
        import atexit
        import tempfile
        out = Path(tempfile.mkdtemp(prefix="pin-kiosk-deb-"))
        atexit.register(shutil.rmtree, out, True)
        _BUILT[version] = build_package(out, version)
    return _BUILT[version]


def deb_field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def deb_files(deb: Path) -> list[str]:
    """Every path in the package, as installed (``/usr/bin/pin-kiosk``), directories with a slash."""
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        path = line.split(None, 5)[5].split(" -> ")[0]
        paths.append(path[1:] if path.startswith("./") else path)
    return [p if p.startswith("/") else "/" + p for p in paths if p not in ("/", "")]


def runtime_depends() -> list[str]:
    """The package names of debian/control's Depends that are real packages (not ${...})."""
    text = (REPO / "debian/control").read_text()
    block = re.search(r"^Depends:(.*?)(?=^\S)", text, re.M | re.S).group(1)
    names = [re.split(r"[\s(]", d.strip())[0] for d in block.replace("\n", " ").split(",")]
    return [n for n in names if n and not n.startswith("$")] + ["python3"]


def mirror() -> str:
    """The Debian mirror this machine's apt uses (CI reaches it), else deb.debian.org."""
    for src in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if src.is_file():
            m = re.search(r"(?:URIs:|^deb)\s+(\S+/debian)/?\s", src.read_text(), re.M)
            if m:
                return m.group(1)
    return MIRROR_DEFAULT


def cache_dir() -> Path:
    """``$PIN_KIOSK_CHROOT_CACHE``, else /var/cache/pin-kiosk-chroot when writable, else ~/.cache."""
    env = os.environ.get("PIN_KIOSK_CHROOT_CACHE")
    if env:
        return Path(env)
    system = Path("/var/cache/pin-kiosk-chroot")
    try:
        system.mkdir(parents=True, exist_ok=True)
        if os.access(system, os.W_OK):
            return system
    except OSError:
        pass
    return Path.home() / ".cache" / "pin-kiosk-chroot"


def debian_chroot_tarball() -> Path:
    """A cached Debian 12 tarball with the package's Depends installed (built on first use)."""
    packages = sorted(set(runtime_depends()))
    key = hashlib.sha256("\n".join([SUITE, mirror(), *packages]).encode()).hexdigest()[:16]
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    tarball = d / f"{SUITE}-{key}.tar"
    with open(d / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel runs on one machine build it once
        if not tarball.exists():
            tmp = tarball.with_suffix(".tmp.tar")
            r = subprocess.run(["nice", "-n", "10", "mmdebstrap", "--variant=apt", "--quiet",
                                "--include=" + ",".join(packages), SUITE, str(tmp), mirror()],
                               capture_output=True, text=True, timeout=1800)
            assert r.returncode == 0, r.stderr[-3000:]
            tmp.rename(tarball)
    return tarball


class Chroot:
    """A fresh copy of the cached Debian 12 root in ``path``; ``run`` executes a shell script in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-xf", str(debian_chroot_tarball()), "-C", str(path)], check=True)

    def run(self, script: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
        """``sh -c script`` inside the chroot; /proc is its own (a private mount namespace)."""
        wrapper = 'mount -t proc proc "$1/proc" && exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ' \
                  'HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive sh -c "$2"'
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper, "sh",
                               str(self.path), script], capture_output=True, text=True, timeout=timeout_s)

    def ok(self, script: str) -> str:
        r = self.run(script)
        assert r.returncode == 0, f"{script}\n--- stdout\n{r.stdout[-2000:]}\n--- stderr\n{r.stderr[-2000:]}"
        return r.stdout

    def put(self, src: Path, dest: str) -> str:
        target = self.path / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        return dest

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
