"""Firmware for the devices: DOCSIS code files (signed images) and their checks (docs/firmware.md)."""
