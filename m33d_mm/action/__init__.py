"""Fine-tuning M3D video encoders in mmaction2: action recognition and phase detection in long videos.

Configs load this package with ``custom_imports=dict(imports=['m33d_mm.action'], allow_failed_imports=False)``;
importing it registers, in mmaction2's registries, the encoder :class:`~m33d_mm.models.RGBDViT` (the same class
as in mmpretrain and mmseg, returning one tensor as mmaction2's stock heads expect: :class:`ActionRGBDViT`), the
datasets
:class:`VideoListDataset` and :class:`PhaseClipDataset` and the transform :class:`SampleWindowClips`, and makes
the layer-wise lr decay constructor ``RGBDViTLayerDecayOptimizerConstructor`` (mmengine's root registry, which
mmaction2's runner searches too) available.
"""
from .. import compat  # noqa: F401  (before mmaction pulls in torchvision and its localizers)
from mmaction.registry import MODELS

# The constructor is generic (it asks the backbone for get_layer_depth) and registers itself on import.
from ..engine.layer_decay import RGBDViTLayerDecayOptimizerConstructor
from .backbone import ActionRGBDViT
from .datasets import PhaseClipDataset, VideoListDataset, inspect_frame_folder, phase_windows, select_labelled_videos
from .transforms import SampleWindowClips

# One encoder for every framework; configs name it in mmaction's scope as type='RGBDViT'.
MODELS.register_module(name='RGBDViT', module=ActionRGBDViT)

__all__ = [
    'ActionRGBDViT', 'VideoListDataset', 'PhaseClipDataset', 'SampleWindowClips',
    'inspect_frame_folder', 'phase_windows', 'select_labelled_videos', 'RGBDViTLayerDecayOptimizerConstructor'
]
