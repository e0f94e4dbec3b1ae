"""Definitions as data: the bundled YAML paths and tier policy, their loader and templates."""
