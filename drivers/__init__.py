"""Thin I/O shells: touch input, the card reader, the console serial link."""
