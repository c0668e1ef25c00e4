"""Mixed precision that also works without a GPU."""
from contextlib import contextmanager

import torch
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``torch.autocast`` around the forward pass, without loss scaling.

    mmengine's ``AmpOptimWrapper`` refuses to run without CUDA/NPU/MLU/MUSA devices. bf16 keeps fp32's
    exponent range, so it needs no loss scaling and runs on CPUs as well as GPUs. Where no GPU is present,
    ``AmpOptimWrapper`` (``--amp``, the MAE recipes) is built as :class:`CPUAmpOptimWrapper`, this wrapper in
    bf16 (:mod:`m33d_mm.compat`, D12).

    Args:
        dtype (str): 'bfloat16' (default) or 'float16' (GPU only; prefer ``AmpOptimWrapper`` there, which
            scales the loss).
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs):
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f'optim_wrapper.dtype must be "bfloat16" or "float16", got "{dtype}"')
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        device = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device, dtype=self.cast_dtype):
            yield


class CPUAmpOptimWrapper(AutocastOptimWrapper):
    """What ``type='AmpOptimWrapper'`` builds on a machine without a GPU: bf16 autocast, no loss scaling.

    mmengine's ``AmpOptimWrapper`` asserts that a CUDA/NPU/MLU/MUSA device is present; :mod:`m33d_mm.compat`
    (D12) registers this class under its name there, so ``--amp`` and the MAE recipes' AMP run on CPUs. It takes
    ``AmpOptimWrapper``'s arguments: ``loss_scale`` is not needed in bf16 and ``dtype`` (fp16 without loss scaling
    would underflow) becomes ``'bfloat16'``; both are ignored.
    """

    def __init__(self, loss_scale='dynamic', dtype=None, use_fsdp: bool = False, **kwargs):
        super().__init__(dtype='bfloat16', **kwargs)
        MMLogger.get_current_instance().info(
            'AmpOptimWrapper without a GPU: built as CPUAmpOptimWrapper (bf16 autocast, no loss scaling)')
