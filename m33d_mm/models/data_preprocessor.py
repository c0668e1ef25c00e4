"""Batch normalisation of RGB-D inputs, each modality with its own statistics."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from mmpretrain.registry import MODELS


def _valid_quantiles(flat: torch.Tensor, valid: torch.Tensor, quantiles) -> torch.Tensor:
    """Per-row quantiles of the valid entries, linear interpolation (numpy's default), ``(B, len(quantiles))``.

    Selection (``kthvalue``) instead of the full sort that ``nanquantile`` does: 2-3x faster on CPU.
    """
    out = flat.new_zeros(flat.shape[0], len(quantiles))
    for row in range(flat.shape[0]):
        values = flat[row][valid[row]]
        num = values.numel()
        if num == 0:
            continue
        for col, q in enumerate(quantiles):
            pos = q * (num - 1)
            lower = int(pos)
            low_value = values.kthvalue(lower + 1).values
            if lower + 1 < num and pos > lower:
                low_value = low_value + (pos - lower) * (values.kthvalue(lower + 2).values - low_value)
            out[row, col] = low_value
    return out


def robust_standardize(depth: torch.Tensor, valid: torch.Tensor, trim: float = 0.1) -> torch.Tensor:
    """MultiMAE's per-sample robust standardisation of depth.

    Statistics come from the valid pixels between the ``trim`` and ``1 - trim`` quantiles of each sample;
    ``(d - mean) / sqrt(var + 1e-6)`` is applied to valid pixels and invalid ones are set to 0.

    Args:
        depth (Tensor): ``(B, 1, [T,] H, W)`` depth.
        valid (Tensor): same shape, bool.
    """
    flat = depth.flatten(1)
    flat_valid = valid.flatten(1)
    bounds = _valid_quantiles(flat, flat_valid, (trim, 1 - trim))
    keep = flat_valid & (flat >= bounds[:, :1]) & (flat <= bounds[:, 1:])
    count = keep.sum(dim=1, keepdim=True).clamp(min=1)
    mean = (flat * keep).sum(dim=1, keepdim=True) / count
    var = ((flat - mean).pow(2) * keep).sum(dim=1, keepdim=True) / count
    normed = torch.where(flat_valid, (flat - mean) / (var + 1e-6).sqrt(), torch.zeros_like(flat))
    return normed.view_as(depth)


@MODELS.register_module()
class RGBDDataPreprocessor(BaseDataPreprocessor):
    """Stack, move and normalise ``inputs = dict(rgb=[...], depth=[...])`` batches.

    RGB: ``(x - mean) / std`` with ImageNet statistics (0-255 scale, RGB order).
    Depth (metres, 0 = missing): ``valid['depth']`` records the valid pixels, then

    * 'robust' (default, MultiMAE pre-training): per-sample robust standardisation,
    * 'global': ``(d - depth_mean) / depth_std`` (MultiMAE NYUv2 fine-tuning: 2.0708 m, 0.7776 m),
    * 'none': metres as they are;

    missing pixels are 0 after normalisation and excluded from depth losses through ``valid['depth']``.

    Returns ``dict(inputs=dict(rgb, depth, valid=dict(depth=mask)), data_samples=...)``: the valid-pixel masks
    travel in their own field ``valid`` (modality -> bool mask of the modality's shape), next to the modalities.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 depth_norm: str = 'robust',
                 depth_mean: float = 2.0707764,
                 depth_std: float = 0.7775723,
                 robust_trim: float = 0.1,
                 non_blocking: bool = False):
        super().__init__(non_blocking=non_blocking)
        if depth_norm not in ('robust', 'global', 'none'):
            raise ValueError(f'data_preprocessor.depth_norm must be "robust", "global" or "none", '
                             f'got "{depth_norm}"')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32), persistent=False)
        self.depth_norm = depth_norm
        self.depth_mean = depth_mean
        self.depth_std = depth_std
        self.robust_trim = robust_trim

    @staticmethod
    def _stack(values, name: str) -> torch.Tensor:
        if isinstance(values, torch.Tensor):
            return values
        shapes = {tuple(v.shape) for v in values}
        if len(shapes) != 1:
            raise ValueError(f'inputs["{name}"]: samples of one batch differ in shape {sorted(shapes)}; add a '
                             'crop/resize to a fixed size to the pipeline')
        return torch.stack(list(values))

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        missing = {'rgb', 'depth'} - set(inputs)
        if missing:
            raise KeyError(f'RGBDDataPreprocessor: inputs lack {sorted(missing)}; pack samples with '
                           'PackRGBDInputs (or a video packer) so that inputs = dict(rgb=..., depth=...)')
        rgb = self._stack(inputs['rgb'], 'rgb').float()
        depth = self._stack(inputs['depth'], 'depth').float()
        if rgb.shape[0] != depth.shape[0] or rgb.shape[2:] != depth.shape[2:]:
            raise ValueError(f'rgb batch {tuple(rgb.shape)} and depth batch {tuple(depth.shape)} do not match')
        view = (1, -1) + (1, ) * (rgb.dim() - 2)
        rgb = (rgb - self.mean.view(view)) / self.std.view(view)
        valid = torch.isfinite(depth) & (depth > 0)
        depth = torch.where(valid, depth, torch.zeros_like(depth))
        if self.depth_norm == 'robust':
            depth = robust_standardize(depth, valid, self.robust_trim)
        elif self.depth_norm == 'global':
            depth = torch.where(valid, (depth - self.depth_mean) / self.depth_std, torch.zeros_like(depth))
        return dict(inputs=dict(rgb=rgb, depth=depth, valid=dict(depth=valid)), data_samples=data.get('data_samples'))
