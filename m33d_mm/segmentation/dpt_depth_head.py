"""DPT dense-prediction head for monocular depth (the paper's NYUv2 depth experiment, after MultiMAE)."""
import math
import warnings
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS

ACTIVATIONS = {
    'softplus': (F.softplus, lambda d: math.log(math.expm1(d))),
    'exp': (torch.exp, math.log),
    'relu': (F.relu, lambda d: d),
}


class ResidualConvUnit(nn.Module):
    """``x + conv(relu(conv(relu(x))))`` with 3x3 convs (RefineNet / DPT)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """Fuses a coarser path with a skip feature, refines, upsamples to ``size`` and projects (DPT).

    Args:
        channels (int): width of the path and the skip features.
        with_skip (bool): whether a skip feature is fused (not for the coarsest level, which starts the path).
    """

    def __init__(self, channels: int, with_skip: bool = True):
        super().__init__()
        self.skip_unit = ResidualConvUnit(channels) if with_skip else None
        self.unit = ResidualConvUnit(channels)
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, skip: Optional[torch.Tensor], size: Tuple[int, int]) -> torch.Tensor:
        if self.skip_unit is not None:
            x = x + self.skip_unit(skip)
        x = F.interpolate(self.unit(x), size=size, mode='bilinear', align_corners=True)
        return self.project(x)


@MODELS.register_module()
class DPTDepthHead(BaseDecodeHead):
    """DPT head (Ranftl et al., 2021) regressing metric depth from four ViT layers, for mmseg's
    ``DepthEstimator`` (reads ``gt_depth_map``).

    Reassemble: the four token maps (``(B, C, h, w)``, class token dropped: DPT's 'ignore' readout) are
    projected by 1x1 convs to ``reassemble_channels`` and resampled to 4x, 2x, 1x and 1/2x the token grid
    (1/4 ... 1/32 of the image for 16-pixel patches), then mapped to ``channels`` by 3x3 convs. Fusion:
    RefineNet-style blocks merge the levels from coarse to fine; each upsamples to the next level's size, so
    any grid size works (non-square, odd). Head: 3x3 conv, 2x upsampling, 3x3 conv, ReLU, 1x1 conv to one
    channel and a positive activation; the output has 16x the token grid (the input size for P=16).

    Training: the prediction is resized to the ground truth and ``loss_decode`` (BerHu or mmseg's SiLog, both
    ignoring pixels without depth) is applied. Inference: the prediction is clamped to
    ``[min_depth, max_depth]`` (the metrics take logarithms) and resized to the input size.

    Args:
        in_channels (int): encoder width C (all four inputs).
        channels (int): fusion width (DPT / MultiMAE: 256).
        reassemble_channels (sequence[int]): widths after the 1x1 projections (DPT ViT-B: 96, 192, 384, 768).
        in_index (sequence[int]): which backbone outputs to use, shallow to deep.
        head_channels (int): width of the last hidden conv (DPT: 32).
        activation (str): 'softplus', 'exp' or 'relu' for a positive output.
        init_depth (float): depth in metres the head predicts at initialisation (the last bias is set to the
            inverse activation of it), so training starts at a plausible indoor depth.
        min_depth, max_depth (float): clamp range of predictions at inference.
        loss_decode (dict | list[dict], optional): depth losses called as ``loss(pred, target)`` with
            ``(B, 1, H, W)`` tensors; each must ignore pixels whose target is 0. None: ``BerHuLoss``.
        align_corners (bool): of the final resizes.
        init_cfg (dict, optional): initialisation; None keeps PyTorch's defaults (as DPT).
    """
    num_classes = 1
    out_channels = 1

    def __init__(self,
                 in_channels: int = 768,
                 channels: int = 256,
                 reassemble_channels: Sequence[int] = (96, 192, 384, 768),
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 head_channels: int = 32,
                 activation: str = 'softplus',
                 init_depth: float = 2.5,
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 loss_decode=None,
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = None):
        if activation not in ACTIVATIONS:
            raise ValueError(f'DPTDepthHead.activation must be one of {sorted(ACTIVATIONS)}, got "{activation}"')
        if len(reassemble_channels) != 4 or len(in_index) != 4:
            raise ValueError(f'DPTDepthHead needs four levels: got reassemble_channels={reassemble_channels}, '
                             f'in_index={in_index}')
        if not min_depth < init_depth < max_depth:
            raise ValueError(f'DPTDepthHead: init_depth={init_depth} must lie in (min_depth, max_depth) = '
                             f'({min_depth}, {max_depth})')
        # One output channel, no threshold (this is regression, not binary segmentation) and no dropout; the
        # base's 1x1 classifier `conv_seg` is replaced by `depth_pred` below. It is built under a forked RNG so
        # that the head draws the same initial weights as a head without it.
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='threshold is not defined for binary')
            warnings.filterwarnings('ignore', message='``build_loss`` would be deprecated')
            super().__init__([in_channels] * 4, channels, num_classes=1, out_channels=1, dropout_ratio=0,
                             in_index=list(in_index), input_transform='multiple_select',
                             loss_decode=dict(type='BerHuLoss') if loss_decode is None else loss_decode,
                             align_corners=align_corners, init_cfg=init_cfg)
        del self.conv_seg
        self.threshold = None
        self.activation = activation
        self.init_depth = init_depth
        self.min_depth, self.max_depth = min_depth, max_depth

        def resample(width: int, scale: float) -> nn.Module:
            if scale > 1:
                return nn.ConvTranspose2d(width, width, int(scale), stride=int(scale))
            if scale < 1:
                return nn.Conv2d(width, width, 3, stride=2, padding=1)
            return nn.Identity()

        self.reassemble = nn.ModuleList([
            nn.Sequential(nn.Conv2d(in_channels, width, 1), resample(width, scale))
            for width, scale in zip(reassemble_channels, (4, 2, 1, 0.5))
        ])
        self.level_convs = nn.ModuleList(
            [nn.Conv2d(width, channels, 3, padding=1, bias=False) for width in reassemble_channels])
        self.fusions = nn.ModuleList([FusionBlock(channels, with_skip=level < 3) for level in range(4)])
        self.head_conv = nn.Conv2d(channels, channels // 2, 3, padding=1)
        self.depth_pred = nn.Sequential(
            nn.Conv2d(channels // 2, head_channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(head_channels, 1, 1))

    def init_weights(self):
        super().init_weights()
        nn.init.constant_(self.depth_pred[-1].bias, ACTIVATIONS[self.activation][1](self.init_depth))

    def extra_repr(self) -> str:
        return f'in_index={self.in_index}, activation={self.activation}, align_corners={self.align_corners}'

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Four ``(B, C, h, w)`` maps (after ``in_index``) -> positive depth ``(B, 1, 16h, 16w)``."""
        feats = [conv(block(x)) for conv, block, x in
                 zip(self.level_convs, self.reassemble, self._transform_inputs(inputs))]
        sizes = [f.shape[-2:] for f in feats]
        out = self.fusions[3](feats[3], None, sizes[2])
        out = self.fusions[2](out, feats[2], sizes[1])
        out = self.fusions[1](out, feats[1], sizes[0])
        out = self.fusions[0](out, feats[0], (2 * sizes[0][0], 2 * sizes[0][1]))
        out = self.head_conv(out)
        out = F.interpolate(out, scale_factor=2, mode='bilinear', align_corners=True)
        return ACTIVATIONS[self.activation][0](self.depth_pred(out))

    def loss_by_feat(self, pred_depth_map: torch.Tensor, batch_data_samples: List) -> dict:
        """Depth losses against ``gt_depth_map`` (metres, 0 = missing or padding) of each sample."""
        gt = torch.stack([sample.gt_depth_map.data for sample in batch_data_samples]).to(pred_depth_map)
        pred = resize(pred_depth_map, size=gt.shape[2:], mode='bilinear', align_corners=self.align_corners)
        losses = self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) else [self.loss_decode]
        out = {}
        for loss in losses:
            out[loss.loss_name] = out.get(loss.loss_name, 0) + loss(pred, gt)
        return out

    def predict_by_feat(self, pred_depth_map: torch.Tensor, batch_img_metas: List[dict]) -> torch.Tensor:
        return super().predict_by_feat(pred_depth_map.clamp(self.min_depth, self.max_depth), batch_img_metas)
