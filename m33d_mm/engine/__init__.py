"""Training-loop pieces registered in mmengine's registries on import."""
from .. import compat  # noqa: F401
from .hooks import NonFiniteLossHook, RNGStateHook
from .layer_decay import RGBDViTLayerDecayOptimizerConstructor
from .optim_wrapper import AutocastOptimWrapper
from .visualization_hook import ReconstructionVisualizationHook  # noqa: F401

__all__ = ['AutocastOptimWrapper', 'NonFiniteLossHook', 'RNGStateHook', 'RGBDViTLayerDecayOptimizerConstructor']
