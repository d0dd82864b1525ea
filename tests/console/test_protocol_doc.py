"""docs/protocol.md is the spec a console author works from: its examples and tables must be true."""
import hashlib
import hmac
import json
import os
import re
import time
import zlib

import pytest

from kiosk import frames
from kiosk.protocol import COMMANDS, KIOSK_FRAMES, Role, filter_fields, validate_command

from support_repo import ROOT  # noqa: E402

DOC = ROOT / "docs" / "protocol.md"


#: The document's test key (bytes 0..31).
TEST_KEY = bytes(range(32))


def example_lines():
    text = DOC.read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if re.fullmatch(r"\{.*\}\*[0-9A-F]{8}", ln)]


def mac_example_lines():
    text = DOC.read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if re.fullmatch(r"\{.*\}\*[0-9A-F]{8}:[0-9a-f]{32}", ln)]


def test_every_version_2_example_verifies_under_the_documented_test_key():
    text = DOC.read_text(encoding="utf-8")
    assert TEST_KEY.hex() in text
    lines = mac_example_lines()
    assert len(lines) >= 4
    for ln in lines:
        frame = frames.decode_line(ln.encode("ascii"), TEST_KEY)
        assert frame["v"] == 2 and frames.encode(frame, TEST_KEY).decode()[:-1] == ln
        with pytest.raises(frames.FrameError):
            frames.decode_line(ln.encode("ascii"), bytes(32))
    begin = next(ln for ln in lines if '"type":"begin"' in ln)
    full = hmac.new(TEST_KEY, begin.rpartition("*")[0].encode(), hashlib.sha256).hexdigest()
    assert f"`{full}`" in text and begin.endswith(full[:32])


def test_every_example_line_decodes_with_its_crc():
    lines = example_lines()
    assert len(lines) >= 14
    for ln in lines:
        assert frames.decode_line(ln.encode("ascii"))
        assert frames.encode(frames.decode_line(ln.encode("ascii"))).decode()[:-1] == ln


def test_kiosk_examples_pass_the_whitelist_unchanged_and_commands_validate():
    for ln in example_lines():
        f = frames.decode_line(ln.encode())
        fields = {k: v for k, v in f.items() if k not in ("v", "type", "seq", "boot", "ts", "terminal")}
        if f["type"] in KIOSK_FRAMES:
            assert filter_fields(f["type"], fields, Role.KIOSK) == (fields, []), ln
        elif f["type"] in COMMANDS:
            assert validate_command(f)[0] is not None, ln
        else:
            assert f["type"] == "ack" and set(f) == {"v", "type", "seq", "boot", "ack", "ack_boot"}


def test_the_documented_crc_check_value():
    assert "`CBF43926`" in DOC.read_text() and b"%08X" % zlib.crc32(b"123456789") == b"CBF43926"


def test_every_type_and_field_of_the_schemas_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for table in (KIOSK_FRAMES, COMMANDS):
        for type_, schema in table.items():
            assert f"`{type_}`" in text, type_
            for name in schema.fields:
                assert f"`{name}`" in text, (type_, name)


class DocOnlyConsole:
    """A console written from docs/protocol.md alone: json, zlib, hmac; nothing from kiosk.frames/protocol.

    With ``key``, version 2 (section 2a): MACs on every line, ``to`` on every frame.
    """

    def __init__(self, fd, key=None):
        self.fd, self.buf, self.seen, self.shown = fd, b"", set(), []
        self.boot, self.next_seq, self.unacked = "doc-console", 1, {}
        self.key, self.v, self.kiosk_boot = key, 2 if key else 1, ""

    def _mac(self, body):
        return hmac.new(self.key, body, hashlib.sha256).hexdigest()[:32].encode()

    def _write(self, obj):
        if self.key:
            obj = {**obj, "to": self.kiosk_boot}
        body = json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode()
        tail = b":" + self._mac(body) if self.key else b""
        os.write(self.fd, body + b"*" + b"%08X" % zlib.crc32(body) + tail + b"\n")

    def command(self, type_, **fields):
        frame = {"v": self.v, "type": type_, "seq": self.next_seq, "boot": self.boot, **fields}
        self.next_seq += 1
        self.unacked[frame["seq"]] = (frame, time.monotonic())
        self._write(frame)

    def pump(self):
        try:
            self.buf += os.read(self.fd, 65536)
        except OSError:
            pass
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            line = line[:-1] if line.endswith(b"\r") else line
            if not line or len(line) > 4138:
                continue
            body, star, crc = line.rpartition(b"*")
            crc, colon, mac = crc.partition(b":")
            if not star or len(crc) != 8 or b"%08X" % zlib.crc32(body) != crc.upper():
                continue
            if self.key and not (colon and hmac.compare_digest(mac, self._mac(body))):
                continue
            frame = json.loads(body)
            if frame.get("v") != self.v:
                continue
            if frame["type"] in ("hello", "status"):
                self.kiosk_boot = frame["boot"]
            if frame["type"] == "ack":
                if frame["ack_boot"] == self.boot:
                    self.unacked.pop(frame["ack"], None)
                continue
            self._write({"v": self.v, "type": "ack", "seq": 0, "boot": self.boot,
                         "ack": frame["seq"], "ack_boot": frame["boot"]})
            if (frame["boot"], frame["seq"]) not in self.seen:
                self.seen.add((frame["boot"], frame["seq"]))
                self.shown.append(frame)
        for seq, (frame, sent) in list(self.unacked.items()):
            if time.monotonic() - sent > 1.0:
                self.unacked[seq] = (frame, time.monotonic())
                self._write(frame)


@pytest.mark.stack
@pytest.mark.parametrize("key", [None, TEST_KEY], ids=["version-1", "version-2"])
def test_a_console_written_from_the_document_alone_drives_the_kiosk(tmp_path, key):
    from kiosk.config import config_from_dict
    from kiosk.console_link import ConsoleLink
    from support_pty import open_pty, repoint

    master, name = open_pty()
    repoint(tmp_path / "port", name)
    key_file = tmp_path / "console.key"
    if key:
        key_file.write_text(key.hex() + "\n")
        key_file.chmod(0o600)
    cfg = config_from_dict({"console": {"port": str(tmp_path / "port"), "retransmit_s": 0.2,
                                        "key_file": str(key_file)}})
    kiosk = ConsoleLink(cfg, tmp_path / "state")
    assert kiosk.authenticated is bool(key)
    doc = DocOnlyConsole(master, key)
    commands = []

    def run(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            kiosk.tick(time.monotonic())
            if kiosk.fileno() is not None:
                commands.extend(kiosk.on_readable(time.monotonic()))
            doc.pump()
            time.sleep(0.01)

    try:
        run(0.5)
        assert kiosk.up and doc.shown[0]["type"] == "hello"
        doc.command("begin", pin_type="card_info_input", operator="clerk-5")
        doc.command("nonsense")
        run(0.5)
        kiosk.send("entry.started", time.monotonic(), pin_type="card_info_input", action="verify", tries_left=3)
        run(0.5)
    finally:
        kiosk.close()
        os.close(master)
    assert [(c.type, c.fields) for c in commands] == [
        ("begin", {"pin_type": "card_info_input", "operator": "clerk-5", "action": "verify"})]
    types = [f["type"] for f in doc.shown]
    assert "status" in types and "entry.started" in types
    assert any(f["type"] == "alert" and f["code"] == "bad_command" for f in doc.shown)
    assert doc.unacked == {} and kiosk.pending == 0
