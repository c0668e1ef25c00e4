"""Fine-tuning M3D encoders in mmsegmentation: semantic segmentation and depth estimation.

Configs load this package with ``custom_imports=dict(imports=['m33d_mm.segmentation'],
allow_failed_imports=False)``; importing it registers, in mmseg's registries, the encoder
:class:`~m33d_mm.models.RGBDViT` (the same class as in mmpretrain), the ConvNeXt adapter and DPT depth heads,
the BerHu loss, the ScanNet / NYUv2 datasets and the NYU40 label loader, and (in mmengine's root registry)
the layer-wise lr decay constructor.
"""
from .. import compat  # noqa: F401  (before mmseg pulls in mmcv.ops and torchvision)
from mmseg.registry import MODELS

from ..engine.layer_decay import RGBDViTLayerDecayOptimizerConstructor
from ..models.backbones.rgbd_vit import RGBDViT
from .convnext_adapter_head import ConvNeXtAdapterHead
from .datasets import NYUv2SegDataset, ScanNetDepthDataset, ScanNetSegDataset, select_subset
from .dpt_depth_head import DPTDepthHead
from .losses import BerHuLoss
from .transforms import LoadNYU40Annotations

# One encoder class for every framework; configs name it in mmseg's scope as type='RGBDViT'.
MODELS.register_module(name='RGBDViT', module=RGBDViT)

__all__ = [
    'RGBDViT', 'ConvNeXtAdapterHead', 'DPTDepthHead', 'BerHuLoss', 'ScanNetSegDataset', 'ScanNetDepthDataset',
    'NYUv2SegDataset', 'select_subset', 'LoadNYU40Annotations', 'RGBDViTLayerDecayOptimizerConstructor'
]
