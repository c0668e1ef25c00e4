"""Layer-wise learning-rate decay for models whose backbone is an :class:`~m33d_mm.models.RGBDViT`."""
from collections import defaultdict
from typing import List, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

NO_DECAY_NAMES = ('cls_token', 'pos_embed', 'mask_token')


# Registered in mmengine's root registry so that mmseg, mmpretrain and mmaction runners all find it.
@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class RGBDViTLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Parameter groups with layer-wise lr decay (BEiT / MAE / MultiMAE fine-tuning) for RGBDViT backbones.

    mmseg's ``LearningRateDecayOptimizerConstructor`` only knows BEiT, MAE and ConvNeXt class names; this one
    asks the backbone itself (``get_layer_depth``): patch embeddings and the class token are layer 0,
    ``layers.i`` is layer ``i + 1`` and everything else -- the final norm and all parameters outside the
    backbone (heads) -- layer ``L + 1`` for an ``L``-layer encoder. A parameter of layer ``k`` gets the lr
    ``lr * layer_decay_rate ** (L + 1 - k)``. One-dimensional parameters (norm weights, biases, layer scales)
    and the class token get no weight decay.

    ``paramwise_cfg`` keys:

    * ``layer_decay_rate`` (float): decay per layer (MultiMAE: 0.75). Default 1 (no decay).
    * ``backbone`` (str): attribute holding the RGBDViT, default ``'backbone'``; the model itself is used when it
      has ``get_layer_depth``.

    Groups are merged per (layer, weight decay); each carries ``lr_scale``, ``layer_id`` and ``param_names``.

    Example::

        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
            constructor='RGBDViTLayerDecayOptimizerConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.75))
    """
    KEYS = ('layer_decay_rate', 'backbone')

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - set(self.KEYS))
        if unknown:
            raise KeyError(f'optim_wrapper.paramwise_cfg: unknown keys {unknown} for '
                           f'RGBDViTLayerDecayOptimizerConstructor (expected some of {list(self.KEYS)})')
        paramwise_cfg.setdefault('layer_decay_rate', 1.0)
        paramwise_cfg.setdefault('backbone', 'backbone')
        self.layer_decay_rate = float(paramwise_cfg['layer_decay_rate'])
        self.backbone_attr = paramwise_cfg['backbone']
        if not 0.0 < self.layer_decay_rate <= 1.0:
            raise ValueError(f'optim_wrapper.paramwise_cfg.layer_decay_rate must be in (0, 1], got '
                             f'{self.layer_decay_rate}')
        # A non-empty paramwise_cfg makes the base class build groups through add_params.
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def _layer_depth_fn(self, model: nn.Module):
        if hasattr(model, 'get_layer_depth'):
            return model.get_layer_depth, ''
        backbone = getattr(model, self.backbone_attr, None)
        if backbone is None or not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'RGBDViTLayerDecayOptimizerConstructor: {type(model).__name__}.{self.backbone_attr} '
                            f'is {type(backbone).__name__}, expected a backbone with get_layer_depth() (RGBDViT)')
        return backbone.get_layer_depth, f'{self.backbone_attr}.'

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '', **kwargs) -> None:
        """Append one group per (layer, weight decay) of ``module``'s trainable parameters to ``params``."""
        get_layer_depth, backbone_prefix = self._layer_depth_fn(module)
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            layer_id, num_layers = get_layer_depth(name, backbone_prefix)
            no_decay = param.ndim == 1 or name.split('.')[-1] in NO_DECAY_NAMES
            key: Tuple[int, bool] = (layer_id, no_decay)
            if key not in groups:
                scale = self.layer_decay_rate**(num_layers - 1 - layer_id)
                groups[key] = dict(params=[], param_names=[], lr=self.base_lr * scale, lr_scale=scale,
                                   layer_id=layer_id)
                if self.base_wd is not None:
                    groups[key]['weight_decay'] = 0.0 if no_decay else self.base_wd
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        params.extend(groups[key] for key in sorted(groups))
        self._log_groups(params)

    @staticmethod
    def _log_groups(params: List[dict]):
        by_layer = defaultdict(int)
        for group in params:
            by_layer[(group['layer_id'], group['lr_scale'])] += len(group['params'])
        lines = [f'layer {layer}: lr_scale={scale:.4g}, {count} tensors'
                 for (layer, scale), count in sorted(by_layer.items())]
        MMLogger.get_current_instance().info('layer-wise lr decay:\n' + '\n'.join(lines))
