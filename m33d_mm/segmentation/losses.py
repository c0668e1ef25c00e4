"""Robust regression loss for depth fine-tuning."""
import torch
import torch.nn as nn
from mmseg.registry import MODELS


@MODELS.register_module()
class BerHuLoss(nn.Module):
    """Reverse Huber (BerHu) loss over the valid pixels of a batch (Laina et al., 2016; MultiMAE's NYUv2 depth
    fine-tuning).

    With ``d = |pred - target|`` and ``c = threshold * max(d)`` over the valid pixels of the whole batch
    (detached), the per-pixel loss is ``d`` where ``d <= c`` and ``(d^2 + c^2) / (2c)`` elsewhere: L1 for small
    errors, L2 for large ones, continuous at ``c``. Pixels whose target is ``<= min_depth`` (missing depth,
    padding) do not count; the loss is the mean over the valid pixels.

    Args:
        threshold (float): ``c`` as a fraction of the largest error.
        min_depth (float): targets at or below this value are invalid.
        loss_weight (float): multiplier of the loss.
        loss_name (str): key in the loss dict (mmseg adds keys starting with ``loss_`` to the total).
    """

    def __init__(self, threshold: float = 0.2, min_depth: float = 0.0, loss_weight: float = 1.0,
                 loss_name: str = 'loss_berhu'):
        super().__init__()
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f'BerHuLoss.threshold must be in (0, 1], got {threshold}')
        self.threshold = threshold
        self.min_depth = min_depth
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``pred`` against ``target``, both ``(B, 1, H, W)`` depth maps of the same size."""
        if pred.shape != target.shape:
            raise ValueError(f'BerHuLoss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape')
        valid = target > self.min_depth
        if not valid.any():
            # Keeps the graph (and DDP's gradient bookkeeping) intact for a batch without valid depth.
            return pred.sum() * 0.0
        diff = (pred[valid] - target[valid]).abs()
        c = (self.threshold * diff.max()).detach().clamp(min=torch.finfo(diff.dtype).tiny)
        loss = torch.where(diff <= c, diff, (diff.pow(2) + c.pow(2)) / (2 * c))
        return self.loss_weight * loss.mean()

    @property
    def loss_name(self) -> str:
        return self._loss_name
