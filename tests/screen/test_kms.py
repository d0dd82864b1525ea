"""kiosk/ui/kms.py speaks the kernel's DRM ABI: ioctl numbers and struct layouts are checked
against the kernel's own uapi headers (compiled here with gcc and libdrm-dev), and the mode
choice is the configured size or an error.  The ioctls themselves run on a real KMS device in
the virtual counter (tests/system/), where the first frame is compared with the idle screen."""
import shutil
import subprocess

import pytest

from kiosk.ui import kms

NAMES = ["GETRESOURCES", "GETCRTC", "SETCRTC", "GETENCODER", "GETCONNECTOR", "ADDFB", "RMFB",
         "DIRTYFB", "CREATE_DUMB", "MAP_DUMB", "DESTROY_DUMB"]
STRUCTS = {"drm_mode_card_res": kms._CARD_RES, "drm_mode_modeinfo": kms._MODEINFO, "drm_mode_crtc": kms._CRTC,
           "drm_mode_get_encoder": kms._GET_ENCODER, "drm_mode_get_connector": kms._GET_CONNECTOR,
           "drm_mode_fb_cmd": kms._FB_CMD, "drm_mode_fb_dirty_cmd": kms._FB_DIRTY_CMD,
           "drm_clip_rect": kms._CLIP_RECT, "drm_mode_create_dumb": kms._CREATE_DUMB,
           "drm_mode_map_dumb": kms._MAP_DUMB, "drm_mode_destroy_dumb": kms._DESTROY_DUMB}


@pytest.mark.stack  # compiles and runs a C program
def test_ioctl_numbers_and_struct_sizes_are_the_kernels(tmp_path):
    gcc = shutil.which("gcc")
    assert gcc, "gcc and libdrm-dev (scripts/dev APT_PACKAGES) compile the kernel's drm.h here"
    lines = ["#include <stdio.h>", "#include <drm.h>", "#include <drm_mode.h>", "int main(void) {"]
    lines += [f'printf("{n} %lu\\n", (unsigned long)DRM_IOCTL_MODE_{n});' for n in NAMES]
    lines += [f'printf("{s} %zu\\n", sizeof(struct {s}));' for s in STRUCTS]
    lines += ["return 0; }"]
    (tmp_path / "abi.c").write_text("\n".join(lines))
    subprocess.run([gcc, "-I/usr/include/libdrm", "-o", str(tmp_path / "abi"), str(tmp_path / "abi.c")], check=True)
    out = dict(line.split() for line in subprocess.run([str(tmp_path / "abi")], capture_output=True,
                                                       text=True, check=True).stdout.splitlines())
    for n in NAMES:
        assert getattr(kms, f"DRM_IOCTL_MODE_{n}") == int(out[n]), n
    for s, st in STRUCTS.items():
        assert st.size == int(out[s]), s


def mode(w, h, hz=60, preferred=False):
    raw = kms._MODEINFO.pack(33000, w, w + 10, w + 20, w + 30, 0, h, h + 1, h + 2, h + 3, 0, hz, 0,
                             kms.DRM_MODE_TYPE_PREFERRED if preferred else 0, f"{w}x{h}".encode())
    return kms.decode_mode(raw)


def test_a_mode_decodes_from_the_kernels_bytes():
    m = mode(800, 480, 60, preferred=True)
    assert (m.width_px, m.height_px, m.refresh_hz, m.preferred) == (800, 480, 60, True)
    assert len(m.raw) == kms._MODEINFO.size


def test_the_mode_is_the_configured_size_preferred_first_or_none():
    modes = (mode(1024, 768, preferred=True), mode(800, 480, 50), mode(800, 480, 60), mode(800, 480, 30, True))
    assert kms.choose_mode(modes, (800, 480)).refresh_hz == 30  # the preferred one of that size
    assert kms.choose_mode(modes[:3], (800, 480)).refresh_hz == 60
    assert kms.choose_mode(modes, (1280, 720)) is None  # never a scaled guess: keys are placed in px


def test_no_drm_device_is_one_clear_line(tmp_path):
    with pytest.raises(kms.KmsError, match="no DRM device"):
        kms.open_kms_screen((800, 480), cards=[])
    with pytest.raises(kms.KmsError, match=r"no connected display with a 800x480 mode \(.*card0: No such file"):
        kms.open_kms_screen((800, 480), cards=[str(tmp_path / "card0")])


def test_dirty_rectangles_are_copied_between_pitches_and_clipped():
    w, h, src_pitch, dst_pitch = 6, 4, 6 * 4, 8 * 4  # a driver's pitch is often wider than the image
    src = bytes((i * 7) % 251 for i in range(src_pitch * h))
    dst = bytearray(dst_pitch * h)
    clips = kms.copy_rects(dst, dst_pitch, memoryview(src), src_pitch, (w, h),
                           [(1, 1, 2, 2), (5, 3, 9, 9), (-3, -3, 2, 2), (0, 0, 0, 5)])
    assert clips == [(1, 1, 3, 3), (5, 3, 6, 4)]  # the off-screen and empty ones are dropped
    for y in range(h):
        for x in range(w):
            got = dst[y * dst_pitch + x * 4: y * dst_pitch + x * 4 + 4]
            inside = (1 <= x < 3 and 1 <= y < 3) or (x == 5 and y == 3)
            want = src[y * src_pitch + x * 4: y * src_pitch + x * 4 + 4] if inside else bytes(4)
            assert got == want, (x, y)
    same = bytearray(src_pitch * h)
    assert kms.copy_rects(same, src_pitch, src, src_pitch, (w, h), [(0, 1, w, 2)]) == [(0, 1, w, 3)]
    assert same[src_pitch:3 * src_pitch] == src[src_pitch:3 * src_pitch] and same[:src_pitch] == bytes(src_pitch)
