"""The RGB-depth matching head of eq. (4)."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class RGBDMatchingHead(BaseModule):
    """Eq. (4): RGB-depth matching as two-class classification.

    ``L_m = -1/M * sum_i sum_t y_it log q_t(X_i^rgb, X_i^d)``: a linear classifier and softmax over
    {not matched, matched} on the features of an RGB-depth pair, trained with mmpretrain's ``CrossEntropyLoss``.
    Each sample gives one matched pair and one unmatched pair, its RGB with the depth of another sample of the
    batch (a random non-zero cyclic shift, so no sample is paired with itself), M = 2B.

    A linear layer on concatenated features is blind to whether two features agree (its score is a sum of a
    term in RGB and a term in depth), so the pair feature is ``[r, d, r * d]`` of the pooled features: the
    product lets the linear classifier measure agreement. The pooled features are not L2-normalised: after the
    encoder's final LayerNorm each channel is of order 1, while normalising would shrink every product channel
    to order 1/C and leave the classifier almost nothing to learn from.

    Args:
        in_channels (int): feature width C.
        loss (dict): classification loss config, default mmpretrain's ``CrossEntropyLoss``.
    """

    def __init__(self, in_channels: int, loss: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.classifier = nn.Linear(3 * in_channels, 2)
        self.loss_module = MODELS.build(loss or dict(type='mmpretrain.CrossEntropyLoss'))

    def pair_logits(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """``(M, 2)`` logits for pairs of pooled features ``(M, C)``."""
        return self.classifier(torch.cat([rgb, depth, rgb * depth], dim=-1))

    def sample_pairs(self, rgb: torch.Tensor, depth: torch.Tensor):
        """The B matched pairs, then B unmatched ones: ``(rgb (2B, C), depth (2B, C), labels (2B,))``."""
        batch = rgb.shape[0]
        if batch < 2:
            raise ValueError('RGBDMatchingHead draws unmatched pairs from other samples of the batch and needs '
                             f'a batch of at least 2 per process, got {batch}')
        shift = int(torch.randint(1, batch, (1, )))
        labels = torch.cat([torch.ones(batch), torch.zeros(batch)]).long().to(rgb.device)
        return torch.cat([rgb, rgb]), torch.cat([depth, depth.roll(shift, dims=0)]), labels

    def loss(self, rgb_feats: torch.Tensor, depth_feats: torch.Tensor) -> torch.Tensor:
        """
        Args:
            rgb_feats, depth_feats (Tensor): ``(B, C)`` pooled features, or ``(B, N, C)`` (mean-pooled here).

        Returns:
            Tensor: scalar loss (unweighted).
        """
        if rgb_feats.dim() == 3:
            rgb_feats, depth_feats = rgb_feats.mean(dim=1), depth_feats.mean(dim=1)
        rgb, depth, labels = self.sample_pairs(rgb_feats.float(), depth_feats.float())
        return self.loss_module(self.pair_logits(rgb, depth), labels)
