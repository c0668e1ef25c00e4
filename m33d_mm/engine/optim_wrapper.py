"""Mixed precision that also works without a GPU."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``torch.autocast`` around the forward pass, without loss scaling.

    mmengine's ``AmpOptimWrapper`` refuses to run without CUDA/NPU/MLU/MUSA devices. bf16 keeps fp32's
    exponent range, so it needs no loss scaling and runs on CPUs as well as GPUs; ``tools/train.py --amp``
    picks this wrapper when no GPU is present.

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
