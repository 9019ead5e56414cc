"""Typed schemas, one module per file format."""
