"""Benchmarks that print figures and ratios against a known limit; they assert nothing.

Run them from the repository root, e.g. ``python -m benchmarks.queue``; see ``README.md`` here.
"""
