"""Synthetic data built on the project's renderer (:mod:`m33d_mm.datasets.synthetic`)."""
