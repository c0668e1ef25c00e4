"""See :mod:`m33d_mm.models`."""
