"""The clerk's console: one client core, two faces (the line console and the window).

Theory of operation
-------------------
``wording`` says everything in Japanese first with English after it, in the
clerk's local time; ``commands`` turns a typed line into a command, strictly;
``client`` is the core: it holds the console's end of the link protocol
(``kiosk.protocol.Link``) and a picture of the terminal, takes link events,
typed lines and the time as arguments, and returns ``Notice`` values.  It does
no I/O and decides everything: what is an alert, what rings, when a command
counts as accepted.  ``station`` is the thin I/O shell both faces share (the
port, via ``kiosk.console_link.LinkEnd``); ``line`` (prompt_toolkit) and
``window`` (Tk) only draw notices and the picture, and hand typed lines or
button presses back.

The staff PC is usually a Windows PC: this package and what it imports use only
the standard library, pyserial and (for the line console) prompt_toolkit.
Nothing here may import pygame, pyscard or evdev; a test checks the import
graph, and ``console/pyproject.toml`` builds this part alone for ``pip install``.
"""
