"""The checks of a configuration that need the code that uses it: what ``run`` would trip over.

Theory of operation
-------------------
``kiosk.config`` checks each key on its own (type, range, choices) and the few
relations between keys of the file.  Some mistakes only show when the value
meets the code that uses it: a key size whose keypad does not fit the
configured panel (``run`` then died with an internal LayoutError), a filter
name no filter has, a release tolerance that reaches the next key, a source
spec with an unknown scheme.  ``check_config`` asks that code itself, for
every PIN type, language and screen, and returns every mistake as a
``ConfigError`` (``file: key: reason``).  ``kiosk.config.load_config`` runs
it after its own checks, so ``pin-kiosk config`` says exactly what ``run``
would refuse, and ``run`` refuses it at start, exit 2, before touching any
device.

Nothing here opens a device or a file: the checks are pure.
"""
from __future__ import annotations

from kiosk.config import Config, ConfigError


def check_config(cfg: Config) -> list[ConfigError]:
    """Every mistake ``run`` would trip over, one ``ConfigError`` each (empty: usable)."""
    errors: list[ConfigError] = []
    errors += _layout_errors(cfg)
    errors += _filter_errors(cfg)
    errors += _spec_errors(cfg)
    return errors


def _layout_errors(cfg: Config) -> list[ConfigError]:
    """Each keypad and screen really built on the configured panel; the release tolerance below every gap."""
    from kiosk.keypad import SCREEN_BUTTONS, LayoutError, build_layout, build_screen_layout
    from kiosk.pin import PIN_RULES, PinType

    errors: list[ConfigError] = []
    narrowest: tuple[float, str] | None = None
    failed: dict[str, tuple[list[str], str]] = {}  # config key -> (PIN types, why)
    for pin_type in PinType:
        key = "keypad.alnum_key_mm" if PIN_RULES[pin_type].keypad == "alnum" else "keypad.digit_key_mm"
        for lang in ("ja", "en"):
            try:
                layout = build_layout(pin_type, cfg.screen, cfg.keypad, lang)
            except LayoutError as exc:
                failed.setdefault(key, ([], str(exc)))[0].append(pin_type.value)
                break
            gap_mm = min_gap_mm(layout)
            if gap_mm is not None and (narrowest is None or gap_mm < narrowest[0]):
                narrowest = (gap_mm, pin_type.value)
    for key, (types, why) in failed.items():
        errors.append(ConfigError(cfg.source, key, f"no keypad for {', '.join(types)} on this screen: {why}"))
    for screen_id in SCREEN_BUTTONS:
        for lang in ("ja", "en"):
            try:
                build_screen_layout(screen_id, None, cfg.screen, cfg.keypad, lang)
            except LayoutError as exc:
                errors.append(ConfigError(cfg.source, "screen.width_mm", f"the {screen_id} screen cannot be built: {exc}"))
                break
    tol = cfg.keypad.release_tolerance_mm
    if narrowest is not None and tol >= narrowest[0]:
        errors.append(ConfigError(
            cfg.source, "keypad.release_tolerance_mm",
            f"must be below the narrowest gap between keys ({narrowest[0]:.2f} mm on the {narrowest[1]} "
            f"keypad), got {tol:g}: a finger lifted on the next key would commit the key it pressed"))
    return errors


def min_gap_mm(layout) -> float | None:
    """The narrowest gap between two keys of ``layout`` in mm, as the press tracker's tolerance sees it.

    A release commits the pressed key when it is inside that key's rectangle
    grown by the tolerance on each axis, so the tolerance reaches key B exactly
    when it is at least B's distance along both axes: the gap between two keys
    is the larger of their x and y separations.
    """
    keys = layout.keys
    best: float | None = None
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            dx = max(0, b.x - (a.x + a.w), a.x - (b.x + b.w)) / layout.px_per_mm_x
            dy = max(0, b.y - (a.y + a.h), a.y - (b.y + b.h)) / layout.px_per_mm_y
            gap = max(dx, dy)
            if best is None or gap < best:
                best = gap
    return best


def _filter_errors(cfg: Config) -> list[ConfigError]:
    from drivers.touch.filters import FILTERS

    return [ConfigError(cfg.source, "touch.filters", f"unknown filter {name!r} (known: {', '.join(FILTERS)})")
            for name in cfg.touch.filters if name not in FILTERS]


def _spec_errors(cfg: Config) -> list[ConfigError]:
    """The schemes of the touch and card sources (opening them is ``run``'s job: devices come and go)."""
    from drivers.card import SCHEMES as CARD_SCHEMES
    from drivers.touch import SCHEMES as TOUCH_SCHEMES

    errors = []
    scheme, sep, rest = cfg.touch.source.partition(":")
    if scheme not in TOUCH_SCHEMES or (scheme == "mouse") == bool(sep or rest):
        errors.append(ConfigError(cfg.source, "touch.source", f"touch source {cfg.touch.source!r}: expected "
                                  "evdev:PATH, evdev:auto, events:PATH, evemu:PATH or mouse"))
    scheme, sep, rest = cfg.card.source.partition(":")
    if not (scheme == "pcsc" or cfg.card.source == "sim"):
        errors.append(ConfigError(cfg.source, "card.source", f"unknown card spec {cfg.card.source!r} "
                                  f"(expected one of: {', '.join(CARD_SCHEMES)})"))
    return errors
