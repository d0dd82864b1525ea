"""docs/protocol.md is the spec a console author works from: its examples and tables must be true."""
import re
import zlib
from pathlib import Path

from kiosk import frames
from kiosk.protocol import COMMANDS, KIOSK_FRAMES, Role, filter_fields, validate_command

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def example_lines():
    text = DOC.read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if re.fullmatch(r"\{.*\}\*[0-9A-F]{8}", ln)]


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
