"""Configuration: the shipped files are valid, and each mistake is one clear line, exit 2."""
import subprocess
import sys

import pytest

from kiosk.config import DEMO_CONFIG, PRODUCTION_CONFIG, ConfigError, config_from_dict, load_config


def test_shipped_configs_are_valid_and_differ_where_they_should():
    prod, demo = load_config(PRODUCTION_CONFIG), load_config(DEMO_CONFIG)
    assert prod.card.source == "pcsc" and prod.touch.source.startswith("evdev:")
    assert prod.screen.video == "kms" and prod.console.port == "/dev/kiosk-console"
    assert demo.card.source == "sim" and demo.screen.video == "dummy"
    assert prod.state.dir == "/var/lib/pin-kiosk"


def test_every_key_of_the_schema_is_in_the_shipped_files_with_a_comment():
    import tomllib
    for path in (PRODUCTION_CONFIG, DEMO_CONFIG):
        raw = tomllib.loads(path.read_text())
        text_lines = path.read_text().splitlines()
        for table, values in load_config(PRODUCTION_CONFIG).to_dict().items():
            for key in values:
                if key == "sim_pins" and path == PRODUCTION_CONFIG:
                    continue  # the simulated card's PINs have no place in production
                assert key in raw.get(table, {}), f"{path.name}: {table}.{key} missing"
        for line in text_lines:
            if "=" in line and not line.lstrip().startswith("#"):
                key = line.split("=")[0].strip()
                idx = text_lines.index(line)
                commented = "#" in line or any("#" in text_lines[j] for j in range(max(0, idx - 1), idx))
                assert commented, f"{path.name}: {key} has no comment"


def test_overrides_win_over_the_file():
    cfg = load_config(PRODUCTION_CONFIG, {"card": "sim", "state_dir": "/tmp/x", "video": "dummy",
                                          "touch": "events:/tmp/f", "serial": "loop://"})
    assert (cfg.card.source, cfg.state.dir, cfg.screen.video, cfg.touch.source, cfg.console.port) == (
        "sim", "/tmp/x", "dummy", "events:/tmp/f", "loop://")


BAD = [
    ("[screen]\nwidth_px = \"abc\"\n", "screen.width_px", "must be an integer"),
    ("[screen]\nwidth_px = 100000\n", "screen.width_px", "from 240 to 7680"),
    ("[screen]\nwidth_mm = -5\n", "screen.width_mm", "from 30"),
    ("[screen]\nheight_mm = 900.0\n", "screen.height_mm", "px/mm"),
    ("[screen]\nfullscreen = 1\n", "screen.fullscreen", "true or false"),
    ("[screen]\nlanguage = \"fr\"\n", "screen.language", "one of ja, en"),
    ("[screen]\nwidht_px = 800\n", "screen.widht_px", "unknown key"),
    ("[scren]\nwidth_px = 800\n", "scren", "unknown table"),
    ("screen = 3\n", "screen", "must be a table"),
    ("[session]\ninactivity_timeout_s = 0\n", "session.inactivity_timeout_s", "from 5"),
    ("[session]\ninactivity_timeout_s = nan\n", "session.inactivity_timeout_s", "finite"),
    ("[touch]\nx_min = 100\nx_max = 50\n", "touch.x_max", "greater than"),
    ("[touch]\nmedian_window = 4\n", "touch.median_window", "odd"),
    ("[touch]\nfilters = [1, 2]\n", "touch.filters", "list of strings"),
    ("[keypad]\ngap_mm = 1.0\n", "keypad.gap_mm", "from 2.5"),
    ("[keypad]\ndigit_key_mm = 8\n", "keypad.digit_key_mm", "from 12"),
    ("[drift]\nwarn_mm = true\n", "drift.warn_mm", "must be a number"),
    ("[console]\nretransmit_s = 0\n", "console.retransmit_s", "from 0.05"),
    ("[logging]\nlevel = \"loud\"\n", "logging.level", "one of debug"),
    ("[screen\n", "", "not valid TOML"),
]


@pytest.mark.parametrize("text,key,reason", BAD)
def test_bad_config_is_one_line_naming_file_key_reason(tmp_path, text, key, reason):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.key == key and reason in exc.value.reason
    assert str(exc.value).startswith(str(path))


@pytest.mark.stack
@pytest.mark.parametrize("text,key,reason", BAD[:3] + BAD[-1:])
def test_cli_prints_one_line_and_exits_2(tmp_path, text, key, reason):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    r = subprocess.run([sys.executable, "-m", "kiosk", "config", "--config", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(path) in lines[0] and key in lines[0] and reason in lines[0]
    assert "Traceback" not in r.stderr


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_int_is_accepted_where_a_number_is_expected():
    cfg = config_from_dict({"session": {"inactivity_timeout_s": 30}})
    assert cfg.session.inactivity_timeout_s == 30.0 and isinstance(cfg.session.inactivity_timeout_s, float)


# -- issue 21: the config says OK only when run can use it ---------------------------------------------
#: Each value the running kiosk could not use, which main's ``pin-kiosk config`` called valid.
UNUSABLE = [
    ('[terminal]\nid = "counter 1"\n', "terminal.id"),        # every boot's audit record silently refused
    ('[terminal]\nid = "' + "x" * 5000 + '"\n', "terminal.id"),  # no frame fits 4,096 bytes: no hello
    ("[keypad]\nrelease_tolerance_mm = 10.0\n", "keypad.release_tolerance_mm"),  # lifting on 2 commits 1
    ("[keypad]\ndigit_key_mm = 40\n", "keypad.digit_key_mm"),  # run died with an internal LayoutError
    ('[touch]\nfilters = ["pthres", "smooth"]\n', "touch.filters"),
    ('[touch]\nsource = "evdve:/dev/input/event0"\n', "touch.source"),
]


@pytest.mark.parametrize("text,key", UNUSABLE, ids=[k for _, k in UNUSABLE])
def test_values_run_cannot_use_are_refused(tmp_path, text, key):
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [e.key for e in info.value.errors] == [key]
    assert str(info.value).startswith(f"{path}: {key}: ")


@pytest.mark.stack
def test_pin_kiosk_config_and_run_give_every_mistake_one_line_and_exit_2(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text('[terminal]\nid = "counter 1"\n[keypad]\nrelease_tolerance_mm = 10.0\ndigit_key_mm = 40\n'
                    '[touch]\nfilters = ["smooth"]\n')
    for command in ("config", "run"):
        r = subprocess.run([sys.executable, "-m", "kiosk", command, "--config", str(path), "--video", "dummy",
                            "--state-dir", str(tmp_path / "state"), "--card", "sim", "--serial", "loop://"],
                           capture_output=True, text=True, timeout=60)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert [ln.split(": ")[3] for ln in lines] == [
            "terminal.id", "keypad.digit_key_mm", "keypad.release_tolerance_mm", "touch.filters"], lines
        assert all(ln.startswith(f"pin-kiosk: config error: {path}: ") for ln in lines)
    assert not (tmp_path / "state").exists()  # refused before anything was touched


def test_the_longest_terminal_id_fits_every_consumer():
    from kiosk.audit import check_fields
    from kiosk.protocol import KIOSK_FRAMES, Link, Role
    import kiosk.frames as frames

    longest = "C" + "x" * 30 + "9"
    cfg = config_from_dict({"terminal": {"id": longest}})
    check_fields("boot", {"version": "0.1.0", "terminal": cfg.terminal.id, "boot": "b" * 16})
    link = Link(Role.KIOSK, "f" * 64, terminal=cfg.terminal.id)
    # the fullest frame the kiosk builds: an alert with the longest message the schema allows
    frame, refused = link.build("alert", {"code": "x" * 48, "message": "x" * 200, "level": "fault",
                                          "lost": 2**53 - 1}, "2026-12-03T10:00:00.000Z")
    assert not refused and len(frames.encode(frame)) < frames.MAX_LINE_BYTES and "alert" in KIOSK_FRAMES
    with pytest.raises(ConfigError, match="terminal.id"):
        config_from_dict({"terminal": {"id": longest + "x"}})


def test_release_tolerance_is_checked_against_the_real_gaps():
    # the press tracker commits the pressed key when the release is inside it grown by the tolerance:
    # the tolerance must stay below the gap itself (the issue said half the gap; the shipped 2.0 mm
    # with 2.5 mm gaps is right, and a slide onto the next key is refused at any value below the gap)
    config_from_dict({"keypad": {"release_tolerance_mm": 2.4}})
    with pytest.raises(ConfigError, match="narrowest gap between keys"):
        config_from_dict({"keypad": {"release_tolerance_mm": 2.6}})
    config_from_dict({"keypad": {"release_tolerance_mm": 4.5, "gap_mm": 5.0, "alnum_key_mm": 12.0,
                                 "digit_key_mm": 12.0}, "screen": {"width_px": 1280, "height_px": 800,
                                                                   "width_mm": 217.0, "height_mm": 136.0}})


#: Keys documented in config/*.toml that no code reads yet, and who wires them.
NOT_YET_READ = {"session.result_screen_s": "issue 18 (screen18) holds the result screen this long"}


def test_every_documented_key_is_read_by_the_code():
    from support_repo import ROOT as root
    code = "\n".join(p.read_text() for d in ("kiosk", "drivers", "calibration") for p in (root / d).rglob("*.py"))
    unread = [f"{table}.{key}" for table, values in load_config(PRODUCTION_CONFIG).to_dict().items()
              for key in values if f".{key}" not in code and f'"{key}"' not in code]
    assert sorted(unread) == sorted(NOT_YET_READ), unread
