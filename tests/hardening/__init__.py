"""Hardening: hostile catalogs, killed writers, racing processes, a soak of random operations, security.

Run ``python -m pytest tests/hardening`` (about a minute on 2 cores); the figures (cases, kill points,
processes raced, operations soaked) are printed at the end of the run.  See docs/robustness.md.
"""
