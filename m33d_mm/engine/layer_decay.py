"""Layer-wise learning-rate decay for models whose backbone is an :class:`~m33d_mm.models.RGBDViT`."""
import functools
from collections import defaultdict
from typing import Callable, List, Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor

NO_DECAY_TOKENS = ('cls_token', 'pos_embed', 'mask_token')


# Registered in mmengine's root registry so that mmseg, mmpretrain and mmaction runners all find it.
@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class RGBDViTLayerDecayOptimizerConstructor(LearningRateDecayOptimWrapperConstructor):
    """mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` for any model with an RGBDViT backbone.

    The stock constructor asks the model for ``get_layer_depth``, which mmpretrain's classifiers and
    self-supervisors have but mmseg's segmentors and mmaction2's recognizers do not; this one falls back to the
    backbone's (``RGBDViT.get_layer_depth``): patch embeddings and the class token are layer 0, ``layers.i`` is
    layer ``i + 1`` and everything else -- the final norm and all parameters outside the backbone (heads) --
    layer ``L + 1`` for an ``L``-layer encoder. A parameter of layer ``k`` gets the lr
    ``lr * layer_decay_rate ** (L + 1 - k)``.

    The no-decay rules default to the BEiT / MAE ones: one-dimensional parameters (norm weights, biases, layer
    scales; ``flat_decay_mult=0``) and the class, position and mask tokens (``custom_keys``) get no weight
    decay. Give ``flat_decay_mult`` or ``custom_keys`` to replace them.

    ``paramwise_cfg`` keys: those of the stock constructor (``layer_decay_rate``, default 1; ``bias_decay_mult``,
    ``norm_decay_mult``, ``flat_decay_mult``, ``custom_keys``) and ``backbone`` (str): attribute holding the
    RGBDViT, default ``'backbone'``; the model's own ``get_layer_depth`` is used when it has one.

    Parameters of one layer and weight decay share a group, which carries ``lr_scale``, ``layer_id`` and
    ``param_names``.

    Example::

        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
            constructor='RGBDViTLayerDecayOptimizerConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.75))
    """
    KEYS = ('layer_decay_rate', 'bias_decay_mult', 'norm_decay_mult', 'flat_decay_mult', 'custom_keys', 'backbone')

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - set(self.KEYS))
        if unknown:
            raise KeyError(f'optim_wrapper.paramwise_cfg: unknown keys {unknown} for '
                           f'RGBDViTLayerDecayOptimizerConstructor (expected some of {list(self.KEYS)})')
        rate = float(paramwise_cfg.setdefault('layer_decay_rate', 1.0))
        if not 0.0 < rate <= 1.0:
            raise ValueError(f'optim_wrapper.paramwise_cfg.layer_decay_rate must be in (0, 1], got {rate}')
        if 'flat_decay_mult' not in paramwise_cfg and 'custom_keys' not in paramwise_cfg:
            paramwise_cfg['flat_decay_mult'] = 0.0
            paramwise_cfg['custom_keys'] = {f'.{name}': dict(decay_mult=0.0) for name in NO_DECAY_TOKENS}
        self.backbone_attr = paramwise_cfg.pop('backbone', 'backbone')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def _layer_depth_fn(self, model: nn.Module) -> Callable:
        if hasattr(model, 'get_layer_depth'):
            return model.get_layer_depth
        backbone = getattr(model, self.backbone_attr, None)
        if backbone is None or not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'RGBDViTLayerDecayOptimizerConstructor: {type(model).__name__}.{self.backbone_attr} '
                            f'is {type(backbone).__name__}, expected a backbone with get_layer_depth() (RGBDViT)')
        return functools.partial(backbone.get_layer_depth, prefix=f'{self.backbone_attr}.')

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '',
                   get_layer_depth: Optional[Callable] = None, **kwargs) -> None:
        """Append ``module``'s trainable parameters to ``params``, one group per (layer, lr, weight decay)."""
        if prefix or get_layer_depth is not None:  # the stock recursion into children
            super().add_params(params, module, prefix, get_layer_depth=get_layer_depth, **kwargs)
            return
        single = []
        super().add_params(single, module, get_layer_depth=self._layer_depth_fn(module), **kwargs)
        # one group per setting instead of one per tensor: multi-tensor optimizer kernels batch a group
        groups = {}
        for group in single:
            key = (group['layer_id'], group['lr'], group.get('weight_decay'))
            if key not in groups:
                groups[key] = dict({k: v for k, v in group.items() if k not in ('params', 'param_name')},
                                   params=[], param_names=[])
            groups[key]['params'].extend(group['params'])
            groups[key]['param_names'].append(group['param_name'])
        params.extend(groups[key] for key in sorted(groups, key=lambda k: (k[0], -(k[2] or 0.0))))
        by_layer = defaultdict(int)
        for group in groups.values():
            by_layer[(group['layer_id'], group['lr_scale'])] += len(group['params'])
        MMLogger.get_current_instance().info('layer-wise lr decay:\n' + '\n'.join(
            f'layer {layer}: lr_scale={scale:.4g}, {count} tensors' for (layer, scale), count in sorted(by_layer.items())))
