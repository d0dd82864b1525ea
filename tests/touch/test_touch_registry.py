"""Touch sources are picked by scheme from one registry (``drivers.touch.SCHEMES``), as pyserial picks URL handlers."""
import pytest

from drivers.touch import SCHEMES, TouchSource, TouchSpecError, open_touch, source_class
from kiosk.commands.touch import spec_of
from kiosk.config import TouchConfig


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_is_one_source_class_that_says_how_it_is_written(scheme):
    cls = source_class(scheme)
    assert issubclass(cls, TouchSource) and cls.SPEC_FORMS
    assert all(form.split(":")[0] == scheme for form in cls.SPEC_FORMS)
    # the touch command passes every registered spec through unsniffed
    assert spec_of(cls.SPEC_FORMS[0]) == cls.SPEC_FORMS[0]


def test_unknown_and_incomplete_specs_name_what_the_registry_knows():
    assert source_class("serial") is None
    with pytest.raises(TouchSpecError, match="expected evdev:PATH, evdev:auto, events:PATH, evemu:PATH or mouse"):
        open_touch("evdev", TouchConfig())
    with pytest.raises(TouchSpecError, match="unknown scheme 'serial' .known: evdev, events, evemu, mouse"):
        open_touch("serial:/dev/ttyS0", TouchConfig())
    with pytest.raises(TouchSpecError, match="unknown scheme 'mouse'"):
        open_touch("mouse:1", TouchConfig())  # the mouse takes no path


def test_the_mouse_source_polls_sdl_itself_on_its_own_wakeup_time():
    """The app treats ``mouse`` as any source with a wake-up time: no special case for SDL's queue."""
    src = open_touch("mouse", TouchConfig())
    assert src.wakeup_s(5.0) <= 5.0  # due at once
    assert src.read(5.0) == []       # no window open: nothing to pump, nothing read
    assert src.wakeup_s(5.0) == pytest.approx(5.0 + src.POLL_S)
