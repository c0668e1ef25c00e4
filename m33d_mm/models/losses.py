"""Loss terms of eqs. (1)-(3), one class per paper equation (eq. (4) is :class:`~m33d_mm.models.heads.matching_head.RGBDMatchingHead`)."""
from typing import Optional

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    total = weights.sum()
    # No masked (or no valid) element: a zero that keeps the graph, so DDP sees every parameter used. Chosen
    # with `where` rather than `if`, so that no device-to-host sync splits a compiled step.
    mean = (values * weights).sum() / torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, mean, values.sum() * 0.0)


@MODELS.register_module()
class RGBReconstructionLoss(nn.Module):
    """Eq. (1): mean squared error on masked RGB tokens.

    ``L_rgb = 1/|w| * sum_{p in w} ||I_R(p) - Î_R(p)||^2`` where ``w`` is the set of masked tokens and the
    squared error is averaged over the pixels of a patch (MAE); the target is normalised per patch by
    :class:`~m33d_mm.models.heads.RGBDReconstructionHead` when ``norm_pix`` is on.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            pred, target (Tensor): ``(B, N, K)`` patch pixels.
            mask (Tensor): ``(B, N)``, 1 for masked tokens (the ones that count). Every RGB pixel is valid.
        """
        per_token = (pred.float() - target.float()).pow(2).mean(dim=-1)
        return _masked_mean(per_token, mask.float())


@MODELS.register_module()
class DepthReconstructionLoss(nn.Module):
    """Eq. (2): L1 (images, MultiMAE) or MSE (video) on masked depth tokens, valid pixels only.

    ``L_depth = 1/|l| * sum_{m in l} |I_D(m) - Î_D(m)|`` over masked tokens ``l``; pixels without a depth
    reading (0 in the PNG) are left out of both the sum and the count.

    Args:
        mode (str): 'l1' or 'mse'.
    """

    def __init__(self, mode: str = 'l1'):
        super().__init__()
        if mode not in ('l1', 'mse'):
            raise ValueError(f'DepthReconstructionLoss.mode must be "l1" or "mse", got "{mode}"')
        self.mode = mode

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            pred, target (Tensor): ``(B, N, K)`` patch pixels.
            mask (Tensor): ``(B, N)``, 1 for masked tokens.
            valid (Tensor, optional): ``(B, N, K)``, 1 where the depth pixel is valid.
        """
        diff = pred.float() - target.float()
        error = diff.abs() if self.mode == 'l1' else diff.pow(2)
        weights = mask.float()[..., None].expand_as(error)
        if valid is not None:
            weights = weights * valid.float()
        return _masked_mean(error, weights)


@MODELS.register_module()
class PatchInfoNCELoss(nn.Module):
    """Eq. (3): patch-level InfoNCE between the RGB and depth features of one image.

    ``L_c = -1/N * sum_i log( exp(s_ii / tau) / sum_k exp(s_ik / tau) )`` with ``s_ij`` the cosine
    similarity of RGB patch ``i`` and depth patch ``j`` of the same sample: the positive is the depth patch at
    the same location, the negatives are the other patches of the same depth map. Averaged over patches and
    samples.

    Args:
        tau (float): temperature (fixed unless ``learnable_temperature``).
        symmetric (bool): also add the depth-to-RGB direction and average both (CoMAE, CLIP).
        learnable_temperature (bool): learn ``log(1/tau)`` starting from ``tau``, clamped at 1/100.
        negatives (str): ``'image'`` (eq. 3 as written): the other patches of the same depth map.
            ``'batch'``: every patch of every depth map in the batch, so that the patches at the positive's own
            location in the other samples are negatives too. With the same position code added to both
            modalities, within-image negatives can be told from the positive by position alone; batch
            negatives cannot (docs/method.md). Costs ``(B·N)²`` logits instead of ``B·N²``.
    """

    NEGATIVES = ('image', 'batch')

    def __init__(self, tau: float = 0.07, symmetric: bool = False, learnable_temperature: bool = False,
                 negatives: str = 'image'):
        super().__init__()
        if tau <= 0:
            raise ValueError(f'PatchInfoNCELoss.tau must be positive, got {tau}')
        if negatives not in self.NEGATIVES:
            raise ValueError(f'PatchInfoNCELoss.negatives must be one of {self.NEGATIVES}, got {negatives!r}')
        self.tau = tau
        self.symmetric = symmetric
        self.negatives = negatives
        if learnable_temperature:
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / tau)))
        else:
            self.register_buffer('logit_scale', torch.tensor(math.log(1.0 / tau)), persistent=False)

    def forward(self, rgb_feats: torch.Tensor, depth_feats: torch.Tensor) -> torch.Tensor:
        """
        Args:
            rgb_feats, depth_feats (Tensor): ``(B, N, C)`` encoder features; row ``i`` of both is the same
                patch.

        Returns:
            Tensor: scalar loss.
        """
        if rgb_feats.shape != depth_feats.shape or rgb_feats.dim() != 3:
            raise ValueError(f'PatchInfoNCELoss expects two (B, N, C) tensors of one shape, got '
                             f'{tuple(rgb_feats.shape)} and {tuple(depth_feats.shape)}')
        rgb = F.normalize(rgb_feats.float(), dim=-1)
        depth = F.normalize(depth_feats.float(), dim=-1)
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        batch, num = rgb.shape[:2]
        if self.negatives == 'batch':
            # one (B·N) x (B·N) problem: the positive of token n of sample b is row b·N + n
            rgb, depth = rgb.reshape(1, batch * num, -1), depth.reshape(1, batch * num, -1)
            batch, num = 1, batch * num
        logits = torch.einsum('bnc,bmc->bnm', rgb, depth) * scale
        target = torch.arange(num, device=logits.device).repeat(batch)
        loss = F.cross_entropy(logits.flatten(0, 1), target)
        if self.symmetric:
            loss = 0.5 * (loss + F.cross_entropy(logits.transpose(1, 2).flatten(0, 1), target))
        return loss
