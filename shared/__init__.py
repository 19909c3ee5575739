"""What the central system and the charge point both speak; no I/O here."""
