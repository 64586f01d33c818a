"""Turning fetched bytes into facts: feed entries, article text, adoption claims."""
