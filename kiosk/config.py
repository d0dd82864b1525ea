"""Configuration: one schema, validated up front, one clear line per mistake.

Theory of operation
-------------------
Each TOML table is a frozen dataclass below; each field carries its limits in
``meta(...)``.  ``load_config`` reads the file, rejects unknown tables and
keys, checks every type and range, applies command-line overrides, checks
the relations between keys and then what the running kiosk would trip over
(``kiosk.config_checks``: every keypad really built on the configured panel,
filter names, source schemes, the release tolerance against the real gaps),
and returns a ``Config``.  Mistakes raise one ``ConfigError`` carrying all of
them (``errors``), one ``file: key: reason`` line each, which the CLI prints
before exiting with 2.  So ``pin-kiosk config`` refuses exactly what ``run``
would, and ``run`` refuses it before opening any device.

To add a setting: add a field with a default and ``meta`` to the table's
dataclass, and a commented line to both ``config/kiosk.toml`` and
``config/demo.toml``.  Nothing else reads TOML.
"""
from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The shipped configs live beside the packages: ``config/`` in a checkout, and
#: ``/usr/share/pin-kiosk/config/`` in the Debian package (the modules are in /usr/share/pin-kiosk).
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEMO_CONFIG = CONFIG_DIR / "demo.toml"
PRODUCTION_CONFIG = CONFIG_DIR / "kiosk.toml"
#: The terminal's own configuration (a conffile of the Debian package).
SYSTEM_CONFIG = Path("/etc/pin-kiosk/kiosk.toml")


def default_config_path() -> Path:
    """What ``--config`` means when it is not given.

    In a checkout (``pyproject.toml`` beside ``config/``) the demo config, always: a
    developer's tests must not change with what a package put in /etc.  Installed, the
    terminal's ``/etc/pin-kiosk/kiosk.toml`` when it exists, so ``pin-kiosk audit`` and
    the other subcommands work on a terminal without ``--config``; else the demo config.
    """
    if (CONFIG_DIR.parent / "pyproject.toml").is_file():
        return DEMO_CONFIG
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else DEMO_CONFIG


class ConfigError(Exception):
    """A configuration mistake: which file, which key, why.

    ``errors`` is every mistake found (this one first); ``str`` is one
    ``file: key: reason`` line per mistake, which the CLI prints before exiting with 2.
    """

    def __init__(self, file: str | Path, key: str, reason: str) -> None:
        self.file, self.key, self.reason = str(file), key, reason
        self.errors: list[ConfigError] = [self]
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.file}: {self.key}: {self.reason}" if self.key else f"{self.file}: {self.reason}"

    @classmethod
    def of(cls, errors: list["ConfigError"]) -> "ConfigError":
        """One exception carrying every mistake of ``errors`` (not empty)."""
        first = errors[0]
        exc = cls(first.file, first.key, first.reason)
        exc.errors = list(errors)
        return exc

    def __str__(self) -> str:
        return "\n".join(e.line() for e in self.errors)


def meta(
    *, lo: float | None = None, hi: float | None = None,
    choices: tuple[str, ...] | None = None, doc: str = "",
) -> dict[str, Any]:
    """Field metadata: inclusive numeric range or allowed strings, and what it means."""
    return {"lo": lo, "hi": hi, "choices": choices, "doc": doc}


def _f(default: Any, **kw: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta(**kw))
    return field(default=default, metadata=meta(**kw))


@dataclass(frozen=True)
class TerminalConfig:
    id: str = _f("terminal-1", doc="name of this terminal in console frames, audit and metrics")


@dataclass(frozen=True)
class ScreenConfig:
    width_px: int = _f(800, lo=240, hi=7680, doc="screen width in pixels")
    height_px: int = _f(480, lo=240, hi=7680, doc="screen height in pixels")
    width_mm: float = _f(154.2, lo=30, hi=1000, doc="visible width in millimetres")
    height_mm: float = _f(85.9, lo=30, hi=1000, doc="visible height in millimetres")
    video: str = _f("kms", doc="kms (the panel through DRM dumb buffers, no EGL), or an SDL video driver: x11, wayland, dummy, ...")
    fullscreen: bool = _f(True, doc="fullscreen, cursor hidden")
    font_path: str = _f("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                        doc="font with Japanese glyphs")
    language: str = _f("ja", choices=("ja", "en"), doc="language a session starts in")


@dataclass(frozen=True)
class TouchConfig:
    source: str = _f("evdev:/dev/kiosk-touch", doc="evdev:PATH | evdev:auto | events:PATH | evemu:PATH | mouse")
    x_min: int = _f(0, lo=-(2**31), hi=2**31 - 1, doc="raw X minimum (events: sources)")
    x_max: int = _f(799, lo=-(2**31), hi=2**31 - 1, doc="raw X maximum (events: sources)")
    y_min: int = _f(0, lo=-(2**31), hi=2**31 - 1, doc="raw Y minimum (events: sources)")
    y_max: int = _f(479, lo=-(2**31), hi=2**31 - 1, doc="raw Y maximum (events: sources)")
    filters: list = _f(["pthres", "median", "debounce"], doc="tap filter chain, in order")
    pressure_min: int = _f(1, lo=0, hi=65535, doc="pthres: samples below this pressure are dropped")
    median_window: int = _f(3, lo=1, hi=15, doc="median: samples per window (odd)")
    debounce_s: float = _f(0.08, lo=0, hi=2, doc="debounce: a touch that starts and ends within this of the previous release is a bounce")
    fit_reject_mm: float = _f(3.0, lo=0.5, hi=50, doc="calibration fit: a point this far from the fitted matrix is a misclick, rejected")


@dataclass(frozen=True)
class CardConfig:
    source: str = _f("pcsc", doc="pcsc | pcsc:READER-PATTERN | sim")
    reader_pattern: str = _f("", doc="substring of the reader name to use; empty = any (refused by pin-kiosk run)")
    resident_registry_aid: str = _f("", doc="hex AID of the 住基 applet; empty = probe the known candidates")
    sim_pins: str = _f("user_auth=1234,signature=ABC123,resident_registry=1234,card_info_input=1234",
                       doc="sim card only: its PINs")


@dataclass(frozen=True)
class ConsoleConfig:
    port: str = _f("/dev/kiosk-console", doc="serial device path or pyserial URL (socket://, loop://)")
    baudrate: int = _f(115200, lo=1200, hi=4000000, doc="serial speed")
    retransmit_s: float = _f(1.0, lo=0.05, hi=60, doc="resend unacknowledged frames after")
    heartbeat_s: float = _f(5.0, lo=0.5, hi=3600, doc="status heartbeat interval")
    reopen_max_s: float = _f(10.0, lo=0.1, hi=600, doc="longest backoff when reopening a vanished port")
    journal_max_frames: int = _f(10000, lo=10, hi=1000000, doc="unacknowledged frames kept across restarts")
    time_zone: str = _f("Asia/Tokyo", doc="staff console: the zone its times are shown in (IANA name or +09:00)")
    key_file: str = _f("/etc/pin-kiosk/console.key",
                       doc="the terminal's console key (pin-kiosk key create); missing: unauthenticated link")


@dataclass(frozen=True)
class SessionConfig:
    inactivity_timeout_s: float = _f(60.0, lo=5, hi=3600, doc="end the session after this long without a touch")
    ended_screen_s: float = _f(5.0, lo=0.5, hi=60, doc="how long the 'session ended' confirmation stays")
    result_screen_s: float = _f(8.0, lo=0.5, hi=120, doc="how long a result stays before idle")


@dataclass(frozen=True)
class KeypadConfig:
    digit_key_mm: float = _f(15.0, lo=12, hi=40, doc="digit keypad key size")
    alnum_key_mm: float = _f(12.0, lo=12, hi=40, doc="alphanumeric keypad key size (shrunk to fit, never below 12)")
    gap_mm: float = _f(2.5, lo=2.5, hi=20, doc="gap between keys")
    alnum_order: str = _f("alphabetical", choices=("alphabetical", "qwerty"), doc="letter order")
    release_tolerance_mm: float = _f(2.0, lo=0, hi=10, doc="a release this far outside the pressed key still commits")
    repeat_debounce_s: float = _f(0.04, lo=0, hi=2,
                                  doc="a press of the same key this soon after its release is a bounce, ignored")


@dataclass(frozen=True)
class SoundConfig:
    enabled: bool = _f(True, doc="key click and result tones (ALSA through SDL)")
    volume: float = _f(0.5, lo=0, hi=1, doc="loudness of the click and the tones, 0 (silent) to 1")


@dataclass(frozen=True)
class DriftConfig:
    warn_mm: float = _f(1.5, lo=0.1, hi=20, doc="warn when the mean tap offset moved this far from baseline")
    alert_key_fraction: float = _f(0.25, lo=0.05, hi=0.5, doc="alert when the shift reaches this fraction of key pitch")
    check_rms_mm: float = _f(1.5, lo=0.1, hi=20, doc="drift check: pass when rms error is at most this")
    check_max_mm: float = _f(3.0, lo=0.1, hi=30, doc="drift check: pass when the largest error is at most this")
    baseline_taps: int = _f(500, lo=4, hi=100000, doc="taps after a calibration that form the baseline")
    pool_sessions: int = _f(5, lo=1, hi=100,
                            doc="drift figures move only after this many sessions, pooled: none follows one PIN's length")
    technician_timeout_s: float = _f(60.0, lo=5, hi=3600,
                                     doc="calibration or drift check ends, nothing changed, after this long without a tap")


@dataclass(frozen=True)
class StateConfig:
    dir: str = _f("/var/lib/pin-kiosk", doc="calibration, audit log, console journal, metrics")
    seal_interval_s: float = _f(300.0, lo=1, hi=86400,
                                doc="seal the audit trail this often (pin-kiosk audit seal-init sets sealing up)")


@dataclass(frozen=True)
class MetricsConfig:
    dir: str = _f("", doc="Prometheus textfile directory; empty = the state directory")


@dataclass(frozen=True)
class LoggingConfig:
    level: str = _f("info", choices=("debug", "info", "warning", "error"), doc="stderr log level")


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``source`` is the file it came from."""

    terminal: TerminalConfig = field(default_factory=TerminalConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    touch: TouchConfig = field(default_factory=TouchConfig)
    card: CardConfig = field(default_factory=CardConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    sound: SoundConfig = field(default_factory=SoundConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    state: StateConfig = field(default_factory=StateConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str = "<defaults>"

    @property
    def state_dir(self) -> Path:
        return Path(self.state.dir)

    @property
    def metrics_dir(self) -> Path:
        return Path(self.metrics.dir) if self.metrics.dir else self.state_dir

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Tables as plain dicts (for ``pin-kiosk config --json``)."""
        return {t.name: dataclasses.asdict(getattr(self, t.name)) for t in _tables()}


def require_terminal_id(cfg: Config) -> None:
    """A terminal that runs must be named: the shipped /etc/pin-kiosk/kiosk.toml leaves it empty.

    Two terminals both called by a default name would mix their console frames, audit
    trails and fleet series; so the package ships ``id = ""`` and ``pin-kiosk run`` and
    ``pin-kiosk config`` refuse it (exit 2) until the deployer sets it.
    """
    if not cfg.terminal.id.strip():
        raise ConfigError(cfg.source, "terminal.id",
                          "unset: name this terminal (its console frames, audit trail and metrics carry it)")


def _tables() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(Config) if f.name != "source"]


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list"}


def _check_value(file: str, key: str, f: dataclasses.Field, hint: type, value: Any) -> Any:
    m = f.metadata
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))
    if not ok:
        raise ConfigError(file, key, f"must be {_TYPE_NAMES[hint]}, got {value!r}")
    if hint is float and not math.isfinite(value):
        raise ConfigError(file, key, f"must be a finite number, got {value!r}")
    if hint is list and not all(isinstance(x, str) for x in value):
        raise ConfigError(file, key, "must be a list of strings")
    lo, hi, choices = m.get("lo"), m.get("hi"), m.get("choices")
    if lo is not None and hi is not None and not lo <= value <= hi:
        raise ConfigError(file, key, f"must be from {lo:g} to {hi:g}, got {value!r}")
    if choices and value not in choices:
        raise ConfigError(file, key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _build_table(file: str, name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(file, name, "must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values, errors = {}, []
    for key, value in raw.items():
        try:
            if key not in fields:
                raise ConfigError(file, f"{name}.{key}", f"unknown key (known: {', '.join(fields)})")
            values[key] = _check_value(file, f"{name}.{key}", fields[key], hints[key], value)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigError.of(errors)
    return cls(**values)


#: A terminal id goes into every console frame, every audit ``boot`` record and the metrics'
#: labels: the characters all of them take, short enough that every frame fits its 4,096 bytes.
TERMINAL_ID_CHARS = "A-Z a-z 0-9 . _ - :"
TERMINAL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,31}")


def _cross_checks(file: str, cfg: Config) -> list[ConfigError]:
    errors = []
    if cfg.terminal.id and not TERMINAL_ID_RE.fullmatch(cfg.terminal.id):  # unset: require_terminal_id's
        errors.append(ConfigError(file, "terminal.id", f"must be 1 to 32 of {TERMINAL_ID_CHARS}, starting with a "
                                  f"letter or digit, got {cfg.terminal.id[:40]!r}"))
    from kiosk.console.wording import zone_named
    try:
        zone_named(cfg.console.time_zone)
    except ValueError as exc:
        errors.append(ConfigError(file, "console.time_zone", str(exc)))
    t = cfg.touch
    if t.x_max <= t.x_min:
        errors.append(ConfigError(file, "touch.x_max", f"must be greater than touch.x_min ({t.x_min})"))
    if t.y_max <= t.y_min:
        errors.append(ConfigError(file, "touch.y_max", f"must be greater than touch.y_min ({t.y_min})"))
    if t.median_window % 2 == 0:
        errors.append(ConfigError(file, "touch.median_window", f"must be odd, got {t.median_window}"))
    if cfg.card.resident_registry_aid:
        from kiosk.jpki import parse_aid

        try:
            parse_aid(cfg.card.resident_registry_aid)
        except ValueError as exc:
            errors.append(ConfigError(file, "card.resident_registry_aid", str(exc)))
    s = cfg.screen
    for axis in ("width", "height"):
        px, mm = getattr(s, f"{axis}_px"), getattr(s, f"{axis}_mm")
        if not 1.0 <= px / mm <= 40.0:
            errors.append(ConfigError(file, f"screen.{axis}_mm",
                                      f"{px} px over {mm:g} mm is {px / mm:.1f} px/mm; expected 1 to 40"))
    return errors


#: Command-line flags that override a key: flag dest -> (table, key).
OVERRIDES = {
    "touch": ("touch", "source"),
    "card": ("card", "source"),
    "serial": ("console", "port"),
    "state_dir": ("state", "dir"),
    "video": ("screen", "video"),
}


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate ``path`` (default: ``default_config_path()``), then apply overrides.

    ``overrides`` maps ``OVERRIDES`` names (``touch``, ``card``, ``serial``,
    ``state_dir``, ``video``) or ``"table.key"`` to values; None values are ignored.
    """
    path = Path(path) if path is not None else default_config_path()
    return config_from_dict(_read_toml(path), str(path), overrides)


def _read_toml(path: Path) -> dict[str, Any]:
    file = str(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(file, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(file, "", "is a directory, not a TOML file") from None
    except PermissionError:
        raise ConfigError(file, "", "permission denied") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(file, "", "not UTF-8 text") from None


def load_console_config(path: str | Path | None) -> ConsoleConfig:
    """The ``[console]`` table alone (defaults without a file): what the staff PC's console reads.

    The rest of a kiosk's file is not checked here: its checks build keypads and touch filters,
    which the staff PC has no code for.
    """
    if path is None:
        return ConsoleConfig()
    file = str(path)
    cfg = _build_table(file, "console", ConsoleConfig, _read_toml(Path(path)).get("console", {}))
    from kiosk.console.wording import zone_named
    try:
        zone_named(cfg.time_zone)
    except ValueError as exc:
        raise ConfigError(file, "console.time_zone", str(exc)) from None
    return cfg


def config_from_dict(raw: dict[str, Any], file: str = "<dict>",
                     overrides: dict[str, Any] | None = None) -> Config:
    """Validate an already-parsed TOML document (tests build configs this way)."""
    tables = {f.name: f.default_factory for f in _tables()}  # type: ignore[misc]
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for flag, value in (overrides or {}).items():
        if value is None:
            continue
        table, key = OVERRIDES[flag] if flag in OVERRIDES else flag.split(".", 1)
        raw.setdefault(table, {})[key] = value
    built, errors = {}, []
    for name, value in raw.items():
        try:
            if name not in tables:
                raise ConfigError(file, name, f"unknown table (known: {', '.join(tables)})")
            built[name] = _build_table(file, name, tables[name], value)
        except ConfigError as exc:
            errors += exc.errors
    if errors:
        raise ConfigError.of(errors)
    cfg = Config(**built, source=file)
    from kiosk.config_checks import check_config  # it imports the code that uses the config

    errors = _cross_checks(file, cfg) + check_config(cfg)
    if errors:
        raise ConfigError.of(errors)
    return cfg
