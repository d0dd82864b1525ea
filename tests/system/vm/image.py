"""The virtual counter's disk: Debian 12 from Debian's packages, the project's .deb installed by apt.

Why it is built this way
------------------------
* mmdebstrap makes the root file system from Debian's archive only (the
  mirror and keys the host's own ``/etc/apt`` uses): the kernel, systemd as
  PID 1, udev, pcscd and libccid, exactly what a counter runs.  The project's
  package goes in with ``apt-get install ./pin-kiosk_*.deb``, as a deployer
  would, so its Depends pull Debian's python3-pygame/serial/pyscard/evdev.
  Nothing of the developer stack: no vpcd, no venv, no pip.
* Then the deploy steps of the README, done by the tooling instead of a
  person: ``terminal.id`` set, the unit enabled.  The test channel's guest
  agent (``guest_agent.py``) and its unit are added by this tooling, not by
  the package: a real terminal never has them.
* The state directory lives on its own disk (``/dev/vdb`` -> /var/lib/pin-kiosk),
  as on the counter's data partition; the root is an ext4 image made with
  ``mke2fs -d`` (no loop devices, no mounting).
* Cached outside the clone under a key hashed from every input (the .deb's
  bytes, this file, the agent, the package list, the apt sources), so a second
  run boots in seconds and a changed package rebuilds.  Downloaded .debs are
  kept in the cache too, so a rebuild downloads nothing it already has.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
from support_repo import ROOT  # noqa: E402  (the repository)
SUITE = "bookworm"
#: What a counter runs beside the package (the package's own Depends come with it).
PACKAGES = ("linux-image-amd64", "systemd", "systemd-sysv", "udev", "kmod", "procps",
            "pcscd", "libccid", "python3")
TERMINAL_ID = "vm-counter-1"
#: The name pcscd + libccid give QEMU's usb-ccid reader (08e6:4433), as a deployer sets it.
READER_PATTERN = "Gemplus USB SmartCard Reader 433-Swap"
AGENT_DIR = "/usr/local/lib/pin-kiosk-test"
AGENT_UNIT = """[Unit]
Description=pin-kiosk virtual counter: test channel agent (test image only)
BindsTo=dev-virtio\\x2dports-pinkiosk.agent.device
After=dev-virtio\\x2dports-pinkiosk.agent.device systemd-modules-load.service
Before=pin-kiosk.service

[Service]
Type=notify
ExecStart=/usr/bin/python3 {agent_dir}/guest_agent.py
Restart=always
RestartSec=1s

[Install]
WantedBy=multi-user.target
"""
FSTAB = """/dev/vda  /                   ext4  defaults,errors=remount-ro  0 1
/dev/vdb  /var/lib/pin-kiosk  ext4  defaults,nofail,x-systemd.device-timeout=10min  0 2
"""


def cache_dir() -> Path:
    """``$PIN_KIOSK_VM_CACHE``, else /var/cache/pin-kiosk-vm when writable, else ~/.cache."""
    env = os.environ.get("PIN_KIOSK_VM_CACHE")
    if env:
        return Path(env)
    system = Path("/var/cache/pin-kiosk-vm")
    try:
        system.mkdir(parents=True, exist_ok=True)
        if os.access(system, os.W_OK):
            return system
    except OSError:
        pass
    return Path.home() / ".cache" / "pin-kiosk-vm"


def apt_sources() -> Path:
    """The host's own Debian sources (the mirror this machine uses), deb822 or one-line."""
    for cand in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if cand.is_file() and cand.stat().st_size:
            return cand
    raise RuntimeError("no Debian apt sources in /etc/apt (need debian.sources or sources.list)")


@dataclass(frozen=True)
class Image:
    """A built image in the cache: the root disk, the kernel and initrd to boot it with."""

    directory: Path
    root_img: Path
    vmlinuz: Path
    initrd: Path
    manifest: dict


def build_package(checkout: Path = ROOT, out_dir: Path | None = None) -> Path:
    """The checkout's .deb, built with the documented ``dpkg-buildpackage -us -uc -b`` in a copy.

    The copy holds the files git knows (tracked and untracked, not ignored), so
    the package is the one of the checkout under test and the tree stays clean.
    """
    if not (checkout / "debian" / "control").is_file():
        raise RuntimeError(f"{checkout}: no debian/control: the package cannot be built")
    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="pin-kiosk-deb-"))
    src = out_dir / "src"
    files = subprocess.run(["git", "-C", str(checkout), "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                           check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        rel = Path(os.fsdecode(name))
        if not (checkout / rel).is_file():
            continue  # deleted but still tracked
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkout / rel, src / rel)
    log = out_dir / "build.log"
    with open(log, "wb") as f:
        # Debian's own tools and python3 first: a developer's pyenv or venv python lacks dh-python's
        # build modules (and is not what the package is for)
        env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
        env.pop("VIRTUAL_ENV", None)
        proc = subprocess.run(["nice", "-n", "10", "dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
                              stdout=f, stderr=subprocess.STDOUT, env=env)
    debs = sorted(out_dir.glob("pin-kiosk_*_all.deb"))
    if proc.returncode != 0 or not debs:
        raise RuntimeError(f"dpkg-buildpackage failed (rc {proc.returncode}); see {log}:\n"
                           + log.read_text(errors="replace")[-2000:])
    return debs[-1]


def _panel_spec() -> dict:
    """The touch panel plugged in at power-on (``panel.device_spec``: a real panel's descriptor)."""
    from .panel import device_spec
    return device_spec()


def image_key(deb: Path) -> str:
    """A hash of every input of the image: package bytes, tooling, panel, package list, apt sources."""
    h = hashlib.sha256()
    for part in (deb.read_bytes(), Path(__file__).read_bytes(), (HERE / "guest_agent.py").read_bytes(),
                 json.dumps(_panel_spec(), sort_keys=True).encode(),
                 " ".join(PACKAGES).encode(), apt_sources().read_bytes(), SUITE.encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:20]


def _deb_field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), field], check=True, capture_output=True,
                          text=True).stdout.strip()


def _customize_script(deb_name: str) -> str:
    """The deploy steps inside a copy of the base root ($1), run in a private mount namespace:
    the package by apt (its Depends are in the base already: nothing is downloaded), then what a
    deployer does, then the test channel."""
    agent_unit = AGENT_UNIT.format(agent_dir=AGENT_DIR)
    return f"""set -eu
R="$1"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/run"
chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/{deb_name}
rm -f "$R/tmp/{deb_name}"
# the deployer's steps: terminal id, then enable the unit
sed -i -e 's/^id = .*/id = "{TERMINAL_ID}"                 # set by the virtual counter/' \\
       -e 's/^reader_pattern = .*/reader_pattern = "{READER_PATTERN}"  # QEMU usb-ccid, set by the virtual counter/' \\
       "$R/etc/pin-kiosk/kiosk.toml"
# emulation runs 10-50 times slower than a Pi: the kiosk's first start needs more than the unit's 60 s
mkdir -p "$R/etc/systemd/system/pin-kiosk.service.d"
printf '%s\\n' '[Service]' 'TimeoutStartSec=10min' > "$R/etc/systemd/system/pin-kiosk.service.d/virtual-counter.conf"
chroot "$R" pin-kiosk config --config /etc/pin-kiosk/kiosk.toml >/dev/null
chroot "$R" systemctl enable pin-kiosk.service
# the counter: no network, its state disk, a name
printf '%s' '{FSTAB}' > "$R/etc/fstab"
echo vm-counter > "$R/etc/hostname"
mkdir -p "$R/var/lib/pin-kiosk"
# the test channel (test image only)
mkdir -p "$R{AGENT_DIR}"
install -m 0755 "$R/tmp/guest_agent.py" "$R{AGENT_DIR}/guest_agent.py"
install -m 0644 "$R/tmp/panel.json" "$R{AGENT_DIR}/panel.json"
rm -f "$R/tmp/guest_agent.py" "$R/tmp/panel.json"
printf '%s' '{agent_unit}' > "$R/etc/systemd/system/pin-kiosk-test-agent.service"
echo uinput > "$R/etc/modules-load.d/pin-kiosk-test.conf"
chroot "$R" systemctl enable pin-kiosk-test-agent.service
chroot "$R" systemctl mask systemd-timesyncd.service 2>/dev/null || true
"""


def package_depends(deb: Path) -> list[str]:
    """The package's Depends as names (first of each alternative, no versions): the base has them."""
    names = []
    for dep in _deb_field(deb, "Depends").split(","):
        name = dep.split("|")[0].split("(")[0].strip().split(":")[0]
        if name:
            names.append(name)
    return sorted(set(names))


def base_key(depends: list[str]) -> str:
    h = hashlib.sha256()
    for part in (" ".join(PACKAGES), " ".join(depends), apt_sources().read_text(), SUITE, BASE_RECIPE):
        h.update(hashlib.sha256(part.encode()).digest())
    return h.hexdigest()[:20]


#: How the base is made (part of its key): mmdebstrap's options below.
BASE_RECIPE = "mmdebstrap --variant=apt --mode=root --format=directory; apt archives kept; v1"


def build_image(deb: Path, cache: Path | None = None, log=sys.stderr) -> Image:
    """The image for ``deb``: from the cache when its key is there, else built.

    Two layers: the base (Debian's packages, the package's Depends included: mmdebstrap, minutes,
    rebuilt only when the Depends or the sources change) and the image (a copy of the base with
    the .deb installed by apt and the deploy steps done: about a minute).
    """
    cache = cache or cache_dir()
    key = image_key(deb)
    final = cache / "images" / key
    if (final / "manifest.json").is_file():
        return _image_at(final)
    (cache / "images").mkdir(parents=True, exist_ok=True)
    archives = cache / "apt-archives"
    archives.mkdir(parents=True, exist_ok=True)
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building the same image
        if (final / "manifest.json").is_file():
            return _image_at(final)
        depends = package_depends(deb)
        base = _base(cache, depends, archives, log)
        work = Path(tempfile.mkdtemp(prefix=f"build-{key}-", dir=cache))
        try:
            _image_from_base(work, base, deb, log)
            manifest = {"key": key, "package": deb.name, "version": _deb_field(deb, "Version"),
                        "suite": SUITE, "packages": list(PACKAGES), "depends": depends, "base": base.name}
            (work / "out" / "manifest.json").write_text(json.dumps(manifest, indent=1))
            os.rename(work / "out", final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    _prune(cache / "images", keep=final)
    return _image_at(final)


def _base(cache: Path, depends: list[str], archives: Path, log) -> Path:
    """The base root directory for these Depends: cached, or made with mmdebstrap."""
    base = cache / "base" / base_key(depends)
    if (base / "rootfs" / "etc" / "debian_version").is_file() and (base / "done").is_file():
        return base
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    cmd = ["nice", "-n", "10", "mmdebstrap", "--variant=apt", "--mode=root", "--format=directory",
           "--include=" + ",".join(list(PACKAGES) + depends),
           "--skip=essential/unlink",
           "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
           f"--setup-hook=sync-in {archives} /var/cache/apt/archives/",
           f"--customize-hook=sync-out /var/cache/apt/archives {archives}",
           "--customize-hook=rm -f \"$1\"/var/cache/apt/archives/*.deb",
           SUITE, str(base / "rootfs"), str(apt_sources())]
    print("vm image: building the Debian base with mmdebstrap (minutes)", file=log, flush=True)
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    (base / "done").write_text(" ".join(depends))
    for old in (cache / "base").iterdir():  # one base is enough: a new one replaces the old
        if old != base:
            shutil.rmtree(old, ignore_errors=True)
    return base


def _image_from_base(work: Path, base: Path, deb: Path, log) -> None:
    rootfs = work / "rootfs"
    out = work / "out"
    out.mkdir()
    print("vm image: installing the package into a copy of the base", file=log, flush=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(base / "rootfs"), str(rootfs)], check=True)
    shutil.copy2(deb, rootfs / "tmp" / deb.name)
    shutil.copy2(HERE / "guest_agent.py", rootfs / "tmp" / "guest_agent.py")
    (rootfs / "tmp" / "panel.json").write_text(json.dumps(_panel_spec()))
    hook = work / "customize.sh"
    hook.write_text(_customize_script(deb.name))
    subprocess.run(["nice", "-n", "10", "unshare", "--mount", "--propagation", "private", "sh", str(hook),
                    str(rootfs)], check=True, stdout=log, stderr=subprocess.STDOUT)
    boot = rootfs / "boot"
    vmlinuz = max(boot.glob("vmlinuz-*"))
    initrd = max(boot.glob("initrd.img-*"))
    shutil.copy2(vmlinuz, out / "vmlinuz")
    shutil.copy2(initrd, out / "initrd.img")
    used_kib = int(subprocess.run(["du", "-sk", "--apparent-size", str(rootfs)], check=True,
                                  capture_output=True, text=True).stdout.split()[0])
    size_mib = used_kib // 1024 * 13 // 10 + 256
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "counter-root", "-d", str(rootfs),
                    str(out / "root.img"), f"{size_mib}M"], check=True, stdout=log, stderr=subprocess.STDOUT)
    shutil.rmtree(rootfs)


def _image_at(directory: Path) -> Image:
    return Image(directory, directory / "root.img", directory / "vmlinuz", directory / "initrd.img",
                 json.loads((directory / "manifest.json").read_text()))


def _prune(images: Path, keep: Path, max_images: int = 3) -> None:
    """Keep the newest few images: every package change makes a new one (1-2 GB each)."""
    built = sorted((p for p in images.iterdir() if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime)
    for old in built[: max(0, len(built) - (max_images - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def make_state_disk(path: Path, size_mib: int = 64) -> Path:
    """The counter's data partition: an empty ext4 file system for /var/lib/pin-kiosk."""
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "counter-state", str(path), f"{size_mib}M"],
                   check=True)
    return path


if __name__ == "__main__":  # cd tests/system && python3 -m vm.image [DEB]: build (or find) the image
    deb_arg = Path(sys.argv[1]) if len(sys.argv) > 1 else build_package()
    print(build_image(deb_arg).directory)
