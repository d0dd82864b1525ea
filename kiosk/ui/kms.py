"""The panel through the kernel's KMS: a DRM dumb buffer scanned out by one CRTC.

Why this exists (the facts, measured; see the README, "Display"): pip's pygame 2.6
wheels bundle an SDL built without its KMSDRM driver, and Debian's python3-pygame
2.1.2 on SDL 2.26 fails on a KMS device with "EGL not initialized".  SDL's KMSDRM
driver always goes through GBM + EGL, even for a software surface.  The kiosk needs
none of that: it draws 2D rectangles and text on a CPU surface.  So pygame renders
on SDL's ``dummy`` driver (exactly what the tests and benchmarks run), and this
module puts the finished pixels on the panel with the oldest, simplest KMS API,
which every KMS driver offers (vc4 on the Pi, virtio-gpu in the virtual counter,
simpledrm, i915): a dumb buffer, mapped into our memory, shown by ``SETCRTC``.

Theory of operation
-------------------
``open_kms_screen(size_px)`` walks ``/dev/dri/card*``: GETRESOURCES lists the
connectors and CRTCs; the first *connected* connector with a mode of exactly the
configured size wins (the keys are placed in configured pixels: a different mode
would put every touch off its key, so that is an error, never a scaled guess).
Its encoder gives the CRTC.  CREATE_DUMB makes a 32 bpp buffer, ADDFB makes it a
framebuffer (XRGB8888, depth 24), MAP_DUMB + mmap give us its bytes, SETCRTC shows
it.  ``present(pixels, pitch, rects)`` copies only the changed rows of each dirty
rectangle and calls DIRTYFB with those clips: drivers whose scanout is not the
buffer itself (virtio-gpu, udl, simpledrm) upload only on that call; for vc4 the
call is a no-op, and a driver without it answers ENOSYS once and is not asked again.

Opening the card node first makes the process DRM master without CAP_SYS_ADMIN
(no display manager, no getty on tty1: see the unit).  ``close()`` shows the CRTC's
previous framebuffer again (the console) and frees ours.

Kernel names are kept: the ioctl and struct names are those of
``include/uapi/drm/drm.h`` and ``drm_mode.h``; the struct layouts are the 64-bit
ABI, which is the same on arm64 and amd64 (every pointer is a ``__u64``).
"""
from __future__ import annotations

import array
import errno
import fcntl
import glob
import mmap
import os
import struct
from dataclasses import dataclass

# _IOWR('d', nr, size): dir 3 (read|write) << 30, size << 16, type << 8, nr
def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("d") << 8) | nr


_CARD_RES = struct.Struct("=4Q8I")                 # struct drm_mode_card_res
_MODEINFO = struct.Struct("=I10H3I32s")            # struct drm_mode_modeinfo
_CRTC = struct.Struct("=Q7I" + _MODEINFO.format[1:])  # struct drm_mode_crtc
_GET_ENCODER = struct.Struct("=5I")                # struct drm_mode_get_encoder
_GET_CONNECTOR = struct.Struct("=4Q12I")           # struct drm_mode_get_connector
_FB_CMD = struct.Struct("=7I")                     # struct drm_mode_fb_cmd
_FB_DIRTY_CMD = struct.Struct("=4IQ")              # struct drm_mode_fb_dirty_cmd
_CLIP_RECT = struct.Struct("=4H")                  # struct drm_clip_rect
_CREATE_DUMB = struct.Struct("=6IQ")               # struct drm_mode_create_dumb
_MAP_DUMB = struct.Struct("=2IQ")                  # struct drm_mode_map_dumb
_DESTROY_DUMB = struct.Struct("=I")                # struct drm_mode_destroy_dumb
_U32 = struct.Struct("=I")

DRM_IOCTL_MODE_GETRESOURCES = _iowr(0xA0, _CARD_RES.size)
DRM_IOCTL_MODE_GETCRTC = _iowr(0xA1, _CRTC.size)
DRM_IOCTL_MODE_SETCRTC = _iowr(0xA2, _CRTC.size)
DRM_IOCTL_MODE_GETENCODER = _iowr(0xA6, _GET_ENCODER.size)
DRM_IOCTL_MODE_GETCONNECTOR = _iowr(0xA7, _GET_CONNECTOR.size)
DRM_IOCTL_MODE_ADDFB = _iowr(0xAE, _FB_CMD.size)
DRM_IOCTL_MODE_RMFB = _iowr(0xAF, _U32.size)
DRM_IOCTL_MODE_DIRTYFB = _iowr(0xB1, _FB_DIRTY_CMD.size)
DRM_IOCTL_MODE_CREATE_DUMB = _iowr(0xB2, _CREATE_DUMB.size)
DRM_IOCTL_MODE_MAP_DUMB = _iowr(0xB3, _MAP_DUMB.size)
DRM_IOCTL_MODE_DESTROY_DUMB = _iowr(0xB4, _DESTROY_DUMB.size)

DRM_MODE_CONNECTED = 1
DRM_MODE_TYPE_PREFERRED = 1 << 3
#: XRGB8888 little-endian: bytes B, G, R, X.  The SDL surface must have these masks.
XRGB8888_MASKS = (0x00FF0000, 0x0000FF00, 0x000000FF, 0)


class KmsError(Exception):
    """The panel could not be driven through KMS: one line saying which step and why."""


@dataclass(frozen=True)
class Mode:
    """One display mode of a connector (``struct drm_mode_modeinfo``, kept raw for SETCRTC)."""

    width_px: int
    height_px: int
    refresh_hz: int
    preferred: bool
    raw: bytes


@dataclass(frozen=True)
class Connector:
    connector_id: int
    connected: bool
    encoder_id: int
    encoder_ids: tuple[int, ...]
    modes: tuple[Mode, ...]


def _ioctl(fd: int, request: int, buf: bytearray, what: str) -> bytearray:
    try:
        fcntl.ioctl(fd, request, buf, True)
    except OSError as exc:
        raise KmsError(f"{what}: {os.strerror(exc.errno or 0)}") from None
    return buf


def _u32_array(count: int) -> array.array:
    return array.array("I", bytes(4 * count))


def _addr(arr: array.array) -> int:
    return arr.buffer_info()[0] if len(arr) else 0


def decode_mode(raw: bytes) -> Mode:
    """A ``drm_mode_modeinfo`` as a Mode (pure: the tests feed it bytes)."""
    f = _MODEINFO.unpack(raw)
    return Mode(width_px=f[1], height_px=f[6], refresh_hz=f[11],
                preferred=bool(f[13] & DRM_MODE_TYPE_PREFERRED), raw=bytes(raw))


def choose_mode(modes: tuple[Mode, ...], size_px: tuple[int, int]) -> Mode | None:
    """The mode of exactly ``size_px``: the preferred one if several, then the highest refresh."""
    fits = [m for m in modes if (m.width_px, m.height_px) == size_px]
    fits.sort(key=lambda m: (m.preferred, m.refresh_hz), reverse=True)
    return fits[0] if fits else None


def _resources(fd: int) -> tuple[list[int], list[int], list[int]]:
    buf = _ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, bytearray(_CARD_RES.size), "GETRESOURCES")
    n_fbs, n_crtcs, n_conns, n_encs = _CARD_RES.unpack(buf)[4:8]
    fbs, crtcs, conns, encs = (_u32_array(n) for n in (n_fbs, n_crtcs, n_conns, n_encs))
    buf = bytearray(_CARD_RES.pack(_addr(fbs), _addr(crtcs), _addr(conns), _addr(encs),
                                   n_fbs, n_crtcs, n_conns, n_encs, 0, 0, 0, 0))
    _ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, buf, "GETRESOURCES")
    return list(crtcs), list(conns), list(encs)


def _connector(fd: int, connector_id: int) -> Connector:
    def call(modes: array.array, n_modes: int, encs: array.array, n_encs: int) -> tuple:
        buf = bytearray(_GET_CONNECTOR.pack(_addr(encs), _addr(modes), 0, 0, n_modes, 0, n_encs,
                                            0, connector_id, 0, 0, 0, 0, 0, 0, 0))
        return _GET_CONNECTOR.unpack(_ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, buf, "GETCONNECTOR"))

    empty = array.array("B")
    first = call(empty, 0, empty, 0)
    n_modes, n_encs = first[4], first[6]
    modes = array.array("B", bytes(_MODEINFO.size * n_modes))
    encs = _u32_array(n_encs)
    f = call(modes, n_modes, encs, n_encs)
    n_modes = min(n_modes, f[4])  # a hot-plug between the calls may shrink the list
    raw = modes.tobytes()
    return Connector(connector_id=connector_id, connected=f[11] == DRM_MODE_CONNECTED,
                     encoder_id=f[7], encoder_ids=tuple(encs[: min(n_encs, f[6])]),
                     modes=tuple(decode_mode(raw[i * _MODEINFO.size:(i + 1) * _MODEINFO.size])
                                 for i in range(n_modes)))


def _encoder(fd: int, encoder_id: int) -> tuple[int, int]:
    """(current crtc_id, possible_crtcs bitmask) of an encoder."""
    buf = bytearray(_GET_ENCODER.pack(encoder_id, 0, 0, 0, 0))
    f = _GET_ENCODER.unpack(_ioctl(fd, DRM_IOCTL_MODE_GETENCODER, buf, "GETENCODER"))
    return f[2], f[3]


def _get_crtc(fd: int, crtc_id: int) -> tuple:
    buf = bytearray(_CRTC.size)
    _CRTC.pack_into(buf, 0, 0, 0, crtc_id, 0, 0, 0, 0, 0, *([0] * 14), b"")
    return _CRTC.unpack(_ioctl(fd, DRM_IOCTL_MODE_GETCRTC, buf, "GETCRTC"))


def _set_crtc(fd: int, crtc_id: int, fb_id: int, connector_id: int | None, mode_raw: bytes | None) -> None:
    conns = _u32_array(1)
    if connector_id is not None:
        conns[0] = connector_id
    mode = _MODEINFO.unpack(mode_raw) if mode_raw else (0,) * 14 + (b"",)
    buf = bytearray(_CRTC.pack(_addr(conns) if connector_id is not None else 0,
                               1 if connector_id is not None else 0, crtc_id, fb_id, 0, 0, 0,
                               1 if mode_raw else 0, *mode))
    _ioctl(fd, DRM_IOCTL_MODE_SETCRTC, buf, "SETCRTC")


def copy_rects(dst, dst_pitch: int, src, src_pitch: int, size_px: tuple[int, int],
               rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Copy rectangles ``(x, y, w, h)`` of a 32 bpp image between buffers of different pitches.

    Clipped to ``size_px``; whole rows of equal pitch go in one slice.  Returns the
    ``drm_clip_rect`` boxes ``(x1, y1, x2, y2)`` that were copied (for DIRTYFB).  Pure
    buffer arithmetic: the tests run it on bytearrays.
    """
    w_px, h_px = size_px
    clips = []
    for x, y, w, h in rects:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(w_px, x + w), min(h_px, y + h)
        if x1 <= x0 or y1 <= y0:
            continue
        if x0 == 0 and x1 == w_px and src_pitch == dst_pitch:  # whole rows: one copy
            dst[y0 * dst_pitch:y1 * dst_pitch] = src[y0 * src_pitch:y1 * src_pitch]
        else:
            n = (x1 - x0) * 4
            for row in range(y0, y1):
                d, s = row * dst_pitch + x0 * 4, row * src_pitch + x0 * 4
                dst[d:d + n] = src[s:s + n]
        clips.append((x0, y0, x1, y1))
    return clips


class KmsScreen:
    """One connector's CRTC scanning out one XRGB8888 dumb buffer that we write into."""

    def __init__(self, fd: int, path: str, connector: Connector, crtc_id: int, mode: Mode) -> None:
        self.fd, self.path, self.crtc_id, self.mode = fd, path, crtc_id, mode
        self.connector_id = connector.connector_id
        self.size_px = (mode.width_px, mode.height_px)
        self._saved = _get_crtc(fd, crtc_id)  # what the console showed, for close()
        w, h = self.size_px
        f = _CREATE_DUMB.unpack(_ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB,
                                       bytearray(_CREATE_DUMB.pack(h, w, 32, 0, 0, 0, 0)), "CREATE_DUMB"))
        self._handle, self.pitch, size = f[4], f[5], f[6]
        self.fb_id = 0
        self._map: mmap.mmap | None = None
        try:
            fb = _FB_CMD.unpack(_ioctl(fd, DRM_IOCTL_MODE_ADDFB,
                                       bytearray(_FB_CMD.pack(0, w, h, self.pitch, 32, 24, self._handle)), "ADDFB"))
            self.fb_id = fb[0]
            off = _MAP_DUMB.unpack(_ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB,
                                          bytearray(_MAP_DUMB.pack(self._handle, 0, 0)), "MAP_DUMB"))[2]
            self._map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=off)
            self._map.write(bytes(size))  # black before it is shown
            try:
                _set_crtc(fd, crtc_id, self.fb_id, self.connector_id, mode.raw)
            except KmsError as exc:
                raise KmsError(f"{exc} (another program holds the display: a display manager, "
                               f"or a getty on tty1?)") from None
        except BaseException:
            self._release()
            raise
        self._dirty_supported = True

    def present(self, pixels: memoryview, src_pitch: int, rects: list[tuple[int, int, int, int]]) -> None:
        """Copy the rectangles ``(x, y, w, h)`` of an XRGB8888 image to the panel, then flush them."""
        assert self._map is not None
        clips = copy_rects(self._map, self.pitch, pixels, src_pitch, self.size_px, rects)
        if clips:
            self._flush(clips)

    def _flush(self, clips: list[tuple[int, int, int, int]]) -> None:
        if not self._dirty_supported:
            return
        arr = array.array("H", [v for c in clips for v in c])
        buf = bytearray(_FB_DIRTY_CMD.pack(self.fb_id, 0, 0, len(clips), _addr(arr)))
        try:
            fcntl.ioctl(self.fd, DRM_IOCTL_MODE_DIRTYFB, buf, True)
        except OSError as exc:
            if exc.errno in (errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                self._dirty_supported = False  # the scanout is the buffer itself (vc4): nothing to flush
            else:
                raise KmsError(f"DIRTYFB: {os.strerror(exc.errno or 0)}") from None

    def close(self) -> None:
        """Give the CRTC back its previous framebuffer (the console), free ours, close the card."""
        if self.fd < 0:
            return
        saved_fb, valid = self._saved[3], self._saved[7]
        try:
            if saved_fb and valid:
                _set_crtc(self.fd, self.crtc_id, saved_fb, self.connector_id, bytes(_MODEINFO.pack(*self._saved[8:])))
        except KmsError:
            pass  # the console's framebuffer is gone: the panel stays as we left it (cleared)
        self._release()

    def _release(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.fb_id:
            try:
                fcntl.ioctl(self.fd, DRM_IOCTL_MODE_RMFB, bytearray(_U32.pack(self.fb_id)), True)
            except OSError:
                pass
            self.fb_id = 0
        try:
            fcntl.ioctl(self.fd, DRM_IOCTL_MODE_DESTROY_DUMB, bytearray(_DESTROY_DUMB.pack(self._handle)), True)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1


def _pick_crtc(fd: int, connector: Connector, crtcs: list[int]) -> int | None:
    if connector.encoder_id:
        crtc_id, _ = _encoder(fd, connector.encoder_id)
        if crtc_id:
            return crtc_id
    for enc in connector.encoder_ids:
        _, possible = _encoder(fd, enc)
        for i, crtc_id in enumerate(crtcs):
            if possible & (1 << i):
                return crtc_id
    return None


def open_kms_screen(size_px: tuple[int, int], cards: list[str] | None = None) -> KmsScreen:
    """The first connected connector, on any DRM card, that has a mode of exactly ``size_px``."""
    paths = cards if cards is not None else sorted(glob.glob("/dev/dri/card[0-9]*"))
    if not paths:
        raise KmsError("no DRM device (/dev/dri/card*): is the KMS driver loaded (vc4, virtio-gpu)?")
    seen: list[str] = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            seen.append(f"{path}: {os.strerror(exc.errno or 0)}")
            continue
        try:
            crtcs, conns, _ = _resources(fd)
            for cid in conns:
                conn = _connector(fd, cid)
                if not conn.connected:
                    continue
                mode = choose_mode(conn.modes, size_px)
                if mode is None:
                    sizes = sorted({f"{m.width_px}x{m.height_px}" for m in conn.modes})
                    seen.append(f"{path} connector {cid} offers {', '.join(sizes) or 'no modes'}")
                    continue
                crtc = _pick_crtc(fd, conn, crtcs)
                if crtc is None:
                    seen.append(f"{path} connector {cid}: no CRTC")
                    continue
                found = (conn, crtc, mode)
                break
            else:
                found = None
                if not conns:
                    seen.append(f"{path}: no connectors")
        except KmsError as exc:
            seen.append(f"{path}: {exc}")
            found = None
        if found is not None:
            return KmsScreen(fd, path, *found)  # closes fd itself if it fails
        os.close(fd)
    raise KmsError(f"no connected display with a {size_px[0]}x{size_px[1]} mode ({'; '.join(seen)}); "
                   f"set screen.width_px/height_px to the panel's mode")
