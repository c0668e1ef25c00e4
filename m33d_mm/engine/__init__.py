"""Training-loop pieces registered in mmengine's registries on import."""
from .. import compat  # noqa: F401
from .optim_wrapper import AutocastOptimWrapper

__all__ = ['AutocastOptimWrapper']
