"""Targets and losses of masked RGB-D modelling."""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..utils import MaskedEncoding, patchify


@MODELS.register_module()
class RGBDReconstructionHead(BaseModule):
    """Builds the per-modality patch targets and applies eq. (1) / eq. (2).

    Args:
        patch_size (int): spatial patch size P.
        tubelet_size (int): temporal patch size (1 for images).
        losses (dict): modality -> loss config, default RGB eq. (1) and depth eq. (2) with L1.
        norm_pix (dict): modality -> normalise the target per patch (MAE ``norm_pix_loss``); default on for
            RGB, off for depth (already standardised per image by the data preprocessor, MultiMAE).
    """

    def __init__(self,
                 patch_size: int = 16,
                 tubelet_size: int = 1,
                 losses: Optional[Dict[str, dict]] = None,
                 norm_pix: Optional[Dict[str, bool]] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        losses = losses or dict(rgb=dict(type='RGBReconstructionLoss'),
                                depth=dict(type='DepthReconstructionLoss', mode='l1'))
        self.losses = torch.nn.ModuleDict({name: MODELS.build(cfg) for name, cfg in losses.items()})
        self.norm_pix = dict(rgb=True, depth=False)
        self.norm_pix.update(norm_pix or {})

    def construct_target(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Patchified target ``(B, N, t*P*P*C)``, normalised per patch if ``norm_pix[name]``."""
        target = patchify(x, self.patch_size, self.tubelet_size)
        if self.norm_pix.get(name, False):
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.e-6).sqrt()
        return target

    def loss(self, preds: Dict[str, torch.Tensor], inputs: Dict[str, torch.Tensor],
             encoding: MaskedEncoding) -> Dict[str, torch.Tensor]:
        """Unweighted reconstruction loss per modality.

        Args:
            preds (dict): decoder output ``(B, N, K)`` per modality.
            inputs (dict): preprocessed inputs; ``inputs['valid'][name]`` (bool, same shape as ``inputs[name]``) marks valid
                pixels where present.
            encoding (MaskedEncoding): provides the masks.
        """
        out = {}
        for name, loss_fn in self.losses.items():
            if name not in preds:
                continue
            target = self.construct_target(name, inputs[name])
            valid = inputs.get('valid', {}).get(name)
            if valid is None:  # every pixel counts (RGB)
                out[name] = loss_fn(preds[name], target, encoding.mask[name])
            else:
                valid = patchify(valid.to(target.dtype), self.patch_size, self.tubelet_size)
                out[name] = loss_fn(preds[name], target, encoding.mask[name], valid)
        return out
