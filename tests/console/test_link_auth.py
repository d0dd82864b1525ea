"""Protocol 2: every frame MAC'd under the terminal's key, console frames addressed, replays refused."""
from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk import frames
from kiosk.console_key import KeyFileError, create_key, fingerprint, load_key, write_new_key
from kiosk.protocol import Command, Greeted, Link, ReplayWindow, Received, Role

from support_repo import ROOT

KEY = bytes(range(32))
OTHER_KEY = bytes(32)


def kiosk(key=KEY):
    return Link(Role.KIOSK, "k1", retransmit_s=1.0, heartbeat_s=5.0, terminal="t1", key=key)


def console(key=KEY, boot="c1"):
    c = Link(Role.CONSOLE, boot, retransmit_s=1.0, key=key)
    c.opened(0.0)
    return c


def wire(lines, key=KEY):
    return frames.FrameDecoder(key).feed(b"".join(lines))


def greet(k, c, now=0.0):
    hello, _ = k.build("hello", {"version": k.version}, "ts")
    k.opened(now, hello)
    for f in wire(k.poll(now)):
        c.receive(f, now)
    for f in wire(c.poll(now)):
        assert k.receive(f, now) == [Greeted()]


def test_a_keyed_line_carries_crc_and_mac_and_only_the_key_holder_decodes_it():
    frame = {"v": 2, "type": "cancel", "seq": 1, "boot": "c1", "to": "k1"}
    line = frames.encode(frame, KEY)
    body, _, tail = line[:-1].rpartition(b"*")
    crc, _, mac = tail.partition(b":")
    assert crc == frames.crc_hex(body) and len(mac) == 32 and mac == frames.mac_hex(KEY, body)
    assert frames.decode_line(line[:-1], KEY) == frame
    for key, reason in ((OTHER_KEY, "bad mac"), (None, "bad crc field")):
        with pytest.raises(frames.FrameError) as err:
            frames.decode_line(line[:-1], key)
        assert err.value.reason == reason
    v1 = frames.encode({**frame, "v": 1})
    with pytest.raises(frames.FrameError) as err:  # no downgrade: a keyed end wants the MAC
        frames.decode_line(v1[:-1], KEY)
    assert err.value.reason == "no mac"
    d = frames.FrameDecoder(KEY)
    assert d.feed(v1 + frames.encode(frame, OTHER_KEY)) == [] and d.unauthenticated == 2


def test_a_forged_frame_with_a_right_crc_is_dropped_never_acked_or_acted_on():
    k, c = kiosk(), console()
    greet(k, c)
    body = b'{"v":2,"type":"logout","seq":9,"boot":"evil","to":"k1"}'
    forged = body + b"*" + frames.crc_hex(body) + b":" + b"0" * 32 + b"\n"
    d = frames.FrameDecoder(KEY)
    assert d.feed(forged) == [] and d.dropped["bad mac"] == 1
    assert k.poll(1.0) == []  # nothing to ack


def test_console_frames_for_an_earlier_kiosk_boot_are_refused_unacked():
    k, c = kiosk(), console()
    greet(k, c)
    cmd, _ = c.build("logout", {})
    assert cmd["to"] == "k1"
    line = frames.encode(cmd, KEY)
    k2 = Link(Role.KIOSK, "k2", retransmit_s=1.0, terminal="t1", key=KEY)  # the kiosk restarted
    hello, _ = k2.build("hello", {"version": 2}, "ts")
    k2.opened(0.0, hello)
    for f in wire([line]):  # a recording of the logout, replayed to the new process
        assert k2.receive(f, 1.0) == []
    assert k2.stale == 1 and [f["type"] for f in wire(k2.poll(1.0))] == ["hello"]


def test_console_readdresses_its_unacked_commands_when_the_kiosk_restarts():
    k, c = kiosk(), console()
    greet(k, c)
    cmd, _ = c.build("begin", {"pin_type": "user_auth"})
    c.submit(cmd)
    c.poll(0.1)  # lost on the way: the kiosk restarts
    k2 = Link(Role.KIOSK, "k2", retransmit_s=1.0, terminal="t1", key=KEY)
    hello, _ = k2.build("hello", {"version": 2}, "ts")
    k2.opened(0.5, hello)
    for f in wire(k2.poll(0.5)):
        c.receive(f, 0.5)
    ack, begin = wire(c.poll(0.6))
    assert (ack["type"], ack["to"]) == ("ack", "k2")
    assert (begin["type"], begin["to"], begin["seq"]) == ("begin", "k2", cmd["seq"])
    assert k2.receive(ack, 0.6) == [Greeted()]
    assert [type(e) for e in k2.receive(begin, 0.6)] == [Command]


def test_replay_window_duplicates_new_and_too_old():
    w = ReplayWindow(window=8)
    for seq in (1, 2, 5):
        w.remember(("b", seq))
    assert [w.check(("b", s)) for s in (2, 3, 5, 6)] == ["duplicate", "new", "duplicate", "new"]
    w.remember(("b", 20))
    assert w.check(("b", 5)) == "too_old" and w.check(("b", 13)) == "new" and w.check(("b", 20)) == "duplicate"
    assert w.check(("other", 1)) == "new"


def test_a_frame_older_than_the_window_is_not_even_acked():
    k, c = kiosk(), console()
    greet(k, c)
    k.remember([("c1", 10_000)])
    old = {"v": 2, "type": "logout", "seq": 3, "boot": "c1", "to": "k1"}
    assert k.receive(old, 1.0) == [] and k.replays == 1 and k.poll(1.0) == []


def test_key_file_create_show_rotate_and_refusals(tmp_path):
    path = tmp_path / "console.key"
    assert load_key(path) is None
    key = create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and load_key(path) == key
    assert len(fingerprint(key)) == 19 and fingerprint(key) != fingerprint(OTHER_KEY)
    with pytest.raises(KeyFileError, match="already exists"):
        create_key(path)
    assert write_new_key(path) != key
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="must be 0600"):
        load_key(path)
    path.write_text("not a key\n")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="not a console key"):
        load_key(path)


_values = st.none() | st.booleans() | st.integers(-5, 2**60) | st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["begin", "logout", "cancel", "calibrate", "ack", "status_request"]),
       st.dictionaries(st.sampled_from(["pin_type", "operator", "technician", "to", "ack", "ack_boot", "x"]),
                       _values | st.sampled_from(["k1", "k0", "user_auth", "T1"]), max_size=4),
       st.integers(0, 3), st.sampled_from([KEY, OTHER_KEY, None]),
       st.binary(max_size=4), st.integers(0, 300))
def test_fuzz_macd_frames_only_the_key_holder_addressing_this_boot_is_heard(type_, fields, seq, key, noise, pos):
    k, c = kiosk(), console()
    greet(k, c)
    frame = {**fields, "v": frames.version_for(key), "type": type_, "seq": seq, "boot": "c9"}
    try:
        line = bytearray(frames.encode(frame, key))
    except frames.FrameError:
        return
    pristine = bytes(line)
    p = pos % (len(line) - 1)
    line[p:p + len(noise)] = noise
    d = frames.FrameDecoder(KEY)
    for f in d.feed(bytes(line).rstrip(b"\n") + b"\n"):
        assert key == KEY and bytes(line).startswith(pristine[:-1])  # only intact key-holder lines decode
        events = k.receive(f, 1.0)
        if f.get("to") != "k1":
            assert events == [] and k.poll(1.0) == []  # neither acked nor acted on
        assert all(not isinstance(e, Received) for e in events)


@pytest.mark.stack
def test_pin_kiosk_key_subcommand_and_the_console_reads_the_key_file(tmp_path):
    import subprocess
    import sys

    def kiosk_cli(*args):
        return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True,
                              cwd=ROOT)

    path = tmp_path / "console.key"
    r = kiosk_cli("key", "create", "--key-file", str(path))
    assert r.returncode == 0 and fingerprint(load_key(path)) in r.stdout
    assert path.read_text().strip() not in r.stdout + r.stderr  # the key itself is never printed
    shown = kiosk_cli("key", "show", "--key-file", str(path))
    assert shown.returncode == 0 and fingerprint(load_key(path)) in shown.stdout
    again = kiosk_cli("key", "create", "--key-file", str(path))
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "already exists" in again.stderr
    old = load_key(path)
    assert kiosk_cli("key", "rotate", "--key-file", str(path)).returncode == 0 and load_key(path) != old
    missing = kiosk_cli("console", "--port", "loop://", "--key-file", str(tmp_path / "none.key"))
    assert missing.returncode == 2 and missing.stderr.strip().endswith("no such key file")
