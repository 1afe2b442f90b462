"""Spec data files (CSV, one row per part, each with its source), typed loader, fuzzy lookup."""
