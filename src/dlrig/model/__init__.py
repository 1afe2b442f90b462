"""Pydantic models: parts, Build, Finding; TOML loading and validation."""
