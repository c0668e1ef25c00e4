"""M3D multi-modal masked RGB-D pre-training as an OpenMMLab plugin.

Importing the package applies :mod:`m33d_mm.compat` first; model and dataset modules register themselves in
mmpretrain's registries when ``m33d_mm.models`` / ``m33d_mm.datasets`` are imported (``custom_imports``).
"""
from . import compat

compat.apply()

__version__ = '0.1.0'
