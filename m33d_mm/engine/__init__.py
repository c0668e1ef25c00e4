"""Training-loop pieces registered in mmengine's registries on import."""
from .. import compat  # noqa: F401
from .checkpoint import AtomicCheckpointHook
from .hooks import NonFiniteLossHook, ResumeLRHook, RNGStateHook
from .layer_decay import RGBDViTLayerDecayOptimizerConstructor
from .optim_wrapper import AutocastOptimWrapper, CPUAmpOptimWrapper
from .visualization_hook import ReconstructionVisualizationHook  # noqa: F401

__all__ = ['AtomicCheckpointHook', 'AutocastOptimWrapper', 'CPUAmpOptimWrapper', 'NonFiniteLossHook', 'ResumeLRHook',
           'RNGStateHook', 'RGBDViTLayerDecayOptimizerConstructor']
