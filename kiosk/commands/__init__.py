"""One module per ``pin-kiosk`` subcommand: argument parsing and wiring, no decisions."""
