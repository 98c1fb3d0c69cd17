"""Benchmarks. Run each from the repository's root as `python -m bench.<name>` (BENCHMARKS.md)."""
