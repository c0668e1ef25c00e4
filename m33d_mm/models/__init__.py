"""M3D models, registered in mmpretrain's ``MODELS`` registry on import."""
from .. import compat  # noqa: F401  (applies the stack fixes before mmpretrain pulls in torchvision)
from .backbones.rgbd_vit import RGBDViT
from .data_preprocessor import RGBDDataPreprocessor, robust_standardize
from .heads.matching_head import RGBDMatchingHead
from .heads.reconstruction_head import RGBDReconstructionHead
from .losses import DepthReconstructionLoss, PatchInfoNCELoss, RGBReconstructionLoss
from .necks.rgbd_decoder import RGBDMAEDecoder
from .selfsup.m33d import M33D
from .utils import MaskedEncoding, patchify, sincos_pos_embed, unpatchify

__all__ = [
    'RGBDViT', 'RGBDMAEDecoder', 'RGBDReconstructionHead', 'RGBReconstructionLoss', 'DepthReconstructionLoss',
    'PatchInfoNCELoss', 'RGBDMatchingHead', 'M33D', 'RGBDDataPreprocessor', 'robust_standardize',
    'MaskedEncoding', 'patchify', 'unpatchify', 'sincos_pos_embed'
]
