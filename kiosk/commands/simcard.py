"""``pin-kiosk simcard``: plug the virtual My Number card into pcscd through vpcd.

Runs until SIGTERM/SIGINT; stopping it is pulling the card out.  Reconnects
by itself when pcscd restarts.  For tests and demonstrations only: the PINs
given here are test PINs, never a citizen's.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading

from kiosk.cli import UsageError, config_from_args

log = logging.getLogger("pin_kiosk.simcard")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vpcd", metavar="HOST:PORT", default="127.0.0.1:35963",
                        help="vpcd slot to connect to (default 127.0.0.1:35963, the first Virtual PCD slot)")
    parser.add_argument("--pins", metavar="LIST", default="",
                        help="the card's PINs, e.g. user_auth=1234,signature=ABC123 (default: [card] sim_pins)")
    parser.add_argument("--tries", metavar="LIST", default="",
                        help="tries left at start, e.g. user_auth=1,signature=0 (default: all full)")
    parser.add_argument("--verify-delay-s", type=float, default=0.0, metavar="S",
                        help="answer each VERIFY with a PIN only after this long, like a slow card")
    parser.add_argument("--kind", default="mynumber_card", choices=("mynumber_card", "juki_card", "smartphone"),
                        help="what the JPKI token says the card is (default: a My Number card)")
    parser.add_argument("--resident-registry-aid", metavar="HEX", default="",
                        help="where the 住基 applet sits (default: the first known candidate)")
    parser.add_argument("--cert-serial", metavar="HEX", default="",
                        help="the certificate's serial number (default: random, a new card each time)")
    parser.add_argument("--valid-until", metavar="YYYY-MM-DD", default="2030-03-31",
                        help="the user-authentication certificate's end date")
    parser.add_argument("--reselect-keeps-verified", action="store_true",
                        help="a re-SELECT keeps a verified PIN verified (default: it drops it)")


def run(args: argparse.Namespace) -> int:
    from datetime import date

    from drivers.card.virtual import VirtualCard, parse_pins, parse_tries
    from drivers.card.vpcd import VpcdClient, parse_hostport
    from kiosk.jpki import parse_aid

    cfg = config_from_args(args)
    try:
        host, port = parse_hostport(args.vpcd)
        pins = parse_pins(args.pins, base=parse_pins(cfg.card.sim_pins))
        tries = parse_tries(args.tries)
        card = VirtualCard.with_pins(
            pins, tries, kind=args.kind,
            resident_registry_aid=parse_aid(args.resident_registry_aid) if args.resident_registry_aid else None,
            reselect_drops_verified=not args.reselect_keeps_verified,
            serial=bytes.fromhex(args.cert_serial) if args.cert_serial else None,
            valid_until=date.fromisoformat(args.valid_until))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not 0 <= args.verify_delay_s <= 60:
        raise UsageError("--verify-delay-s must be 0..60")
    client = VpcdClient(card, host, port, verify_delay_s=args.verify_delay_s)

    def on_signal(signum: int, frame: object) -> None:
        client.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # serve on a thread so the main thread stays free to take the signal at once
    thread = threading.Thread(target=client.serve, name="vpcd", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
    return 0


if __name__ == "__main__":  # the test stack starts the card without loading every subcommand
    import sys

    from kiosk.cli import EXIT_USAGE, common_options
    from kiosk.config import ConfigError
    from kiosk.log import setup_logging

    _parser = argparse.ArgumentParser(prog="pin-kiosk simcard", parents=[common_options()])
    configure(_parser)
    _args = _parser.parse_args()
    setup_logging(getattr(_args, "log_level", None) or "info")
    try:
        sys.exit(run(_args))
    except (UsageError, ConfigError) as _exc:
        print(f"pin-kiosk simcard: {_exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
