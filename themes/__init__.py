"""Theme files for the console (TOML, one per theme) and their loader. State colours live here."""
