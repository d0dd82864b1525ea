"""pin-kiosk: the PIN terminal for My Number card counters."""

__version__ = "0.1.0"
