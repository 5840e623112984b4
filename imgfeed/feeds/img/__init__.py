"""The IMG Arena golf odds distribution service (formerly Mustard Systems' "xenophobe")."""
