"""Bundled default models (package data), listed with their sha256 in manifest.json."""
