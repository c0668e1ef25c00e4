"""MultiMAE's ConvNeXt adapter: the segmentation head of the paper's ScanNet / NYUv2 experiments."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from einops import rearrange
from mmpretrain.models.backbones.convnext import ConvNeXtBlock
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class ConvNeXtAdapterHead(BaseDecodeHead):
    """Per-token linear up-projection to a 1/4-resolution map, ConvNeXt blocks, 1x1 classifier (Sec. 4.2.3).

    Each token of the last encoder layer is mapped by one linear layer to ``upsample**2 * channels`` values
    that form an ``upsample x upsample`` block of ``channels``-d pixels (MultiMAE: 768 -> 6144 = 16 x 384, i.e.
    1/4 resolution for 16-pixel patches). ConvNeXt blocks (7x7 depthwise conv, LayerNorm, MLP x4, layer scale)
    then mix neighbouring pixels and a 1x1 conv classifies them; the logits are upsampled bilinearly to the
    label (training) or image (inference) size by ``BaseDecodeHead``.

    Args:
        in_channels (int): encoder width C.
        channels (int): width D' of the 1/4-resolution map (MultiMAE: 384).
        num_classes (int): number of classes.
        num_blocks (int): ConvNeXt blocks (MultiMAE: 4).
        upsample (int): pixels per token side produced by the linear layer (4 for 1/4 resolution with P=16).
        drop_path_rate (float): stochastic depth inside the blocks, increasing linearly over them.
        layer_scale_init_value (float): initial layer scale of the blocks.
        dropout_ratio (float): dropout before the classifier; MultiMAE uses none.
        loss_decode (dict | list, optional): None: cross-entropy averaged over the non-ignored pixels.
        init_cfg (dict | list, optional): initialisation; None: truncated normal (std 0.02) for linear and
            conv layers, as MultiMAE and ConvNeXt.
        **kwargs: further ``BaseDecodeHead`` arguments (``ignore_index``, ``in_index``, ``align_corners``).

    Shapes:
        input: ``inputs[in_index]`` of ``(B, C, h, w)``; output logits ``(B, num_classes, h*upsample,
        w*upsample)``.
    """

    def __init__(self,
                 in_channels: int = 768,
                 channels: int = 384,
                 *,
                 num_classes: int,
                 num_blocks: int = 4,
                 upsample: int = 4,
                 drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6,
                 dropout_ratio: float = 0.0,
                 loss_decode: Optional[Union[dict, list]] = None,
                 init_cfg: Optional[Union[dict, list]] = None,
                 **kwargs):
        if loss_decode is None:
            loss_decode = dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True)
        if init_cfg is None:
            init_cfg = dict(type='TruncNormal', std=0.02, bias=0.0, layer=['Linear', 'Conv2d'])
        super().__init__(in_channels=in_channels, channels=channels, num_classes=num_classes,
                         dropout_ratio=dropout_ratio, loss_decode=loss_decode, init_cfg=init_cfg, **kwargs)
        if not isinstance(self.in_channels, int):
            raise TypeError(f'ConvNeXtAdapterHead reads one feature map; in_channels must be an int, got '
                            f'{self.in_channels}')
        self.upsample = upsample
        self.proj = nn.Linear(self.in_channels, upsample * upsample * channels)
        dpr = torch.linspace(0, drop_path_rate, num_blocks).tolist()
        self.blocks = nn.Sequential(*[
            ConvNeXtBlock(channels, drop_path_rate=rate, layer_scale_init_value=layer_scale_init_value)
            for rate in dpr
        ])

    def forward(self, inputs: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        x = self.proj(rearrange(x, 'b c h w -> b h w c'))
        x = rearrange(x, 'b h w (p q d) -> b d (h p) (w q)', p=self.upsample, q=self.upsample)
        return self.cls_seg(self.blocks(x))
