"""Layer-wise lr decay: mmpretrain's stock constructor, reached from any model with an RGBDViT backbone."""
import pytest
import torch
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import MODELS

import m33d_mm.engine  # noqa: F401  (registers the constructor)
import m33d_mm.models  # noqa: F401

from conftest import TINY_ARCH

OPTIM = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
STOCK_RULES = dict(flat_decay_mult=0.0, custom_keys={'.cls_token': dict(decay_mult=0.0),
                                                     '.pos_embed': dict(decay_mult=0.0),
                                                     '.mask_token': dict(decay_mult=0.0)})


def per_parameter(constructor_type, model, paramwise_cfg):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=constructor_type, optim_wrapper_cfg=OPTIM,
                                                        paramwise_cfg=paramwise_cfg))
    table = {}
    for group in constructor(model).optimizer.param_groups:
        names = group.get('param_names') or [group['param_name']]
        for name in names:
            table[name] = (group['layer_id'], group['lr'], group['lr_scale'], group['weight_decay'])
    return table


def test_groups_are_those_of_mmpretrains_stock_constructor():
    classifier = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='RGBDViT', arch=TINY_ARCH, modalities=dict(rgb=3), patch_size=8, out_type='cls_token'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    stock = per_parameter('mmpretrain.LearningRateDecayOptimWrapperConstructor', classifier,
                          dict(layer_decay_rate=0.6, **STOCK_RULES))
    ours = per_parameter('RGBDViTLayerDecayOptimizerConstructor', classifier, dict(layer_decay_rate=0.6))
    assert ours == stock and set(ours) == {n for n, _ in classifier.named_parameters()}
    assert ours['backbone.cls_token'][3] == 0.0 and ours['backbone.layers.0.attn.qkv.weight'][3] == 0.05
    assert ours['head.fc.weight'][:3] == (3, 1e-3, 1.0)


def test_a_pretraining_model_uses_its_own_layer_depth_and_exempts_the_mask_token():
    model = MODELS.build(dict(
        type='M33D', backbone=dict(type='RGBDViT', arch=TINY_ARCH, patch_size=8),
        neck=dict(type='RGBDMAEDecoder', patch_size=8, in_channels=32, embed_dims=16, num_layers=1, num_heads=2),
        head=dict(type='RGBDReconstructionHead', patch_size=8)))
    table = per_parameter('RGBDViTLayerDecayOptimizerConstructor', model, dict(layer_decay_rate=0.5))
    assert table['neck.mask_token'] == (3, 1e-3, 1.0, 0.0)
    assert table['backbone.patch_embed.depth.projection.weight'] == (0, pytest.approx(1e-3 * 0.125), 0.125, 0.05)


def test_explicit_rules_replace_the_defaults():
    model = torch.nn.Module()
    model.backbone = MODELS.build(dict(type='RGBDViT', arch=TINY_ARCH, modalities=dict(rgb=3), patch_size=8))
    table = per_parameter('RGBDViTLayerDecayOptimizerConstructor', model, dict(flat_decay_mult=0.5))
    assert table['backbone.ln1.weight'][3] == pytest.approx(0.025) and table['backbone.cls_token'][3] == 0.05
