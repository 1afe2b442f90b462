"""Render a check report: terminal (rich), JSON, Markdown."""
