"""Classification head for ViT video encoders fine-tuned the VideoMAE way."""
from typing import Sequence, Union

import torch
import torch.nn as nn
from mmaction.models.heads.base import BaseHead
from mmaction.registry import MODELS
from mmengine.model.weight_init import trunc_normal_init


@MODELS.register_module()
class MeanPoolNormHead(BaseHead):
    """LayerNorm on mean-pooled ViT features, dropout, linear classifier (VideoMAE's ``fc_norm`` + ``head``).

    VideoMAE fine-tunes with mean pooling over all patch tokens followed by a fresh LayerNorm (``fc_norm``);
    the pre-trained encoder's per-token final norm is dropped. With an encoder that pools but does not
    normalise -- ``RGBDViT(final_norm=False, out_type='avg_featmap')`` -- this head completes that recipe, and
    ``tools/model_converters/m33d_to_mmaction_vit.py`` turns encoder + head into mmaction2's stock
    ``VisionTransformer(use_mean_pooling=True)`` + ``TimeSformerHead`` (this head's ``fc_norm`` becomes the
    backbone's). The stock backbone's output equals :meth:`pre_logits` of this head.

    Multi-label heads (``multi_class=True``, e.g. with ``loss_cls=dict(type='BCELossWithLogits')`` and multi-hot
    labels) average clip scores with ``average_clips='prob'`` as sigmoid probabilities, not softmax.

    Args:
        num_classes (int): number of classes.
        in_channels (int): feature channels C.
        loss_cls (dict): loss config; ``CrossEntropyLoss`` (single-label, also soft labels from mixup) or
            ``BCELossWithLogits`` (multi-label).
        dropout_ratio (float): dropout before the classifier (VideoMAE: 0.5).
        init_std (float): std of the truncated-normal classifier weights (VideoMAE: 0.02 scaled by 0.001).
        with_norm (bool): apply ``fc_norm``; False gives a plain linear head on the pooled features.
        norm_eps (float): LayerNorm epsilon (1e-6, as the encoder).
        **kwargs: :class:`BaseHead` arguments (``multi_class``, ``label_smooth_eps``, ``average_clips``,
            ``topk``, ``init_cfg``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss_cls: dict = dict(type='CrossEntropyLoss'),
                 dropout_ratio: float = 0.5,
                 init_std: float = 0.02,
                 with_norm: bool = True,
                 norm_eps: float = 1e-6,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, loss_cls, **kwargs)
        self.init_std = init_std
        self.fc_norm = nn.LayerNorm(in_channels, eps=norm_eps) if with_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def init_weights(self) -> None:
        trunc_normal_init(self.fc_cls, std=self.init_std, bias=0.)
        if isinstance(self.fc_norm, nn.LayerNorm):
            nn.init.ones_(self.fc_norm.weight)
            nn.init.zeros_(self.fc_norm.bias)

    def pre_logits(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """Pooled, normalised features ``(B, C)``.

        Args:
            feats: the backbone output: a tensor, or a tuple / list whose last entry is used (``RGBDViT`` returns
                one entry per ``out_indices``). Each is ``(B, C)`` already pooled, or a feature map
                ``(B, C, t, h, w)`` (or any ``(B, C, *grid)``) that is averaged over its positions.
        """
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if x.dim() == 3:
            raise ValueError(f'MeanPoolNormHead: got features of shape {tuple(x.shape)}; expected (B, C) pooled '
                             'features or a (B, C, *grid) feature map (RGBDViT out_type "avg_featmap" or '
                             '"featmap", not "raw", whose class token would be averaged in)')
        if x.dim() > 2:
            x = x.flatten(2).mean(dim=-1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f'MeanPoolNormHead: features have {x.shape[1]} channels, in_channels is '
                             f'{self.in_channels}')
        return self.fc_norm(x)

    def forward(self, x: Union[torch.Tensor, Sequence[torch.Tensor]], **kwargs) -> torch.Tensor:
        """Class scores ``(B, num_classes)`` (logits)."""
        return self.fc_cls(self.dropout(self.pre_logits(x)))

    def average_clip(self, cls_scores: torch.Tensor, num_segs: int = 1) -> torch.Tensor:
        """Average the scores of the ``num_segs`` clips (views) of each sample; sigmoid for multi-label."""
        if self.multi_class and self.average_clips == 'prob':
            scores = cls_scores.view(-1, num_segs, *cls_scores.shape[1:])
            return torch.sigmoid(scores).mean(dim=1)
        return super().average_clip(cls_scores, num_segs)
