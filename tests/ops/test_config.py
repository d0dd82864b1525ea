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
