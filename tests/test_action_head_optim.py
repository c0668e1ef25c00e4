"""The recipes' video head (the stock TimeSformerHead on RGBDViT's pooled, normalised features): losses against
hand-computed values, clip averaging, pooling, and layer-wise lr decay in mmaction2."""
import math

import m33d_mm.action  # noqa: F401  (registers RGBDViT and, through it, the lr decay constructor)
import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from conftest import REPO, TINY_ARCH

PHASE = REPO / 'configs/m33d/recognizer3d_vit-base-p16_m33d-pre_8xb8-50e_orar-phase.py'


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmaction'):
        return MODELS.build(cfg)


def head_with_weights(**kwargs):
    head = build(dict({'type': 'TimeSformerHead', **kwargs}, num_classes=3, in_channels=2, dropout_ratio=0.))
    with torch.no_grad():
        head.fc_cls.weight.copy_(torch.tensor([[1., 0.], [0., 1.], [1., -1.]]))
        head.fc_cls.bias.copy_(torch.tensor([0., 0.5, -0.5]))
    return head


def samples(labels):
    return [ActionDataSample().set_gt_label(label) for label in labels]


def test_multi_label_bce_loss_matches_hand_computation():
    head = head_with_weights(multi_class=True, loss_cls=dict(type='BCELossWithLogits'))
    feats = torch.tensor([[1., 2.], [-1., 0.5]])
    # logits: [1, 2.5, -1.5] and [-1, 1, -2]
    targets = [[1., 0., 1.], [0., 1., 1.]]
    loss = head.loss(feats, samples([torch.tensor(t) for t in targets]))
    assert set(loss) == {'loss_cls'}  # multi-hot labels: no top-k accuracy
    logits = [[1., 2.5, -1.5], [-1., 1., -2.]]
    expected = 0.0
    for row, target in zip(logits, targets):
        for z, y in zip(row, target):
            p = 1 / (1 + math.exp(-z))
            expected -= y * math.log(p) + (1 - y) * math.log(1 - p)
    assert loss['loss_cls'].item() == pytest.approx(expected / 6, rel=1e-6)


def test_label_smoothed_cross_entropy_matches_hand_computation():
    head = head_with_weights(label_smooth_eps=0.1, topk=(1, ))
    feats = torch.tensor([[1., 2.], [-1., 0.5]])
    loss = head.loss(feats, samples([1, 2]))
    logits = [[1., 2.5, -1.5], [-1., 1., -2.]]
    expected = 0.0
    for row, label in zip(logits, [1, 2]):
        log_z = math.log(sum(math.exp(v) for v in row))
        target = [0.1 / 3 + (0.9 if c == label else 0.) for c in range(3)]
        expected -= sum(t * (v - log_z) for t, v in zip(target, row))
    assert loss['loss_cls'].item() == pytest.approx(expected / 2, rel=1e-6)
    assert loss['top1_acc'].item() == pytest.approx(0.5)


def test_multi_label_recipe_averages_views_per_class():
    # the phase recipe's head: views are averaged per class (logits), not through a softmax across classes
    cfg = dict(Config.fromfile(str(PHASE)).model.cls_head, num_classes=3, in_channels=2)
    head = head_with_weights(**{k: v for k, v in cfg.items() if k not in ('num_classes', 'in_channels')})
    assert head.multi_class and type(head).__name__ == 'TimeSformerHead'
    scores = torch.tensor([[0., 2., -2.], [2., 0., 4.]])  # two views of one sample
    torch.testing.assert_close(head.average_clip(scores, num_segs=2), scores.mean(0, keepdim=True))
    # one class's score does not move with another class's logit (a softmax would couple them)
    moved = scores.clone()
    moved[:, 2] += 10.
    torch.testing.assert_close(head.average_clip(moved, num_segs=2)[:, :2], scores.mean(0, keepdim=True)[:, :2])
    # per class, samples rank as their sigmoid probabilities do: mAP is that of the probabilities
    single = torch.randn(6, 3)
    assert torch.equal(head.average_clip(single).argsort(0), torch.sigmoid(single).argsort(0))


def test_pooled_features_are_normalised_token_means():
    vit = build(dict(type='RGBDViT', arch=TINY_ARCH, modalities=dict(rgb=3), patch_size=8, tubelet_size=2,
                     with_cls_token=False, final_norm=False))
    vit.init_weights()
    with torch.no_grad():
        vit.ln2.weight.uniform_(0.5, 1.5)
        vit.ln2.bias.uniform_(-0.5, 0.5)
    clip = torch.randn(2, 3, 4, 16, 16)
    pooled = vit(clip)  # mmaction2's registry: one (B, C) tensor
    tokens = vit.eval().forward_modalities(dict(rgb=clip))['rgb']
    assert pooled.shape == (2, 32)
    torch.testing.assert_close(vit(clip), vit.ln2(tokens.mean(1)))


def test_layer_decay_groups_for_an_mmaction_recognizer():
    model = build(dict(
        type='Recognizer3D',
        backbone=dict(type='RGBDViT', arch=TINY_ARCH, modalities=dict(rgb=3), patch_size=8, tubelet_size=2,
                      with_cls_token=False, final_norm=False, out_type='avg_featmap'),
        cls_head=dict(type='TimeSformerHead', num_classes=5, in_channels=32),
        data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW')))
    with DefaultScope.overwrite_default_scope('mmaction'):  # as the runner builds it from a config
        wrapper = build_optim_wrapper(model, dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
            constructor='RGBDViTLayerDecayOptimizerConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.7)))
    groups = wrapper.optimizer.param_groups
    by_name = {name: group for group in groups for name in group['param_names']}
    assert set(by_name) == {n for n, p in model.named_parameters() if p.requires_grad}
    # 2 layers: embeddings 0, layers.i -> i + 1, head 3; scale 0.7 ** (3 - layer)
    expected = {
        'backbone.patch_embed.rgb.projection.weight': (0, 0.7**3, 0.05),
        'backbone.patch_embed.rgb.projection.bias': (0, 0.7**3, 0.0),
        'backbone.layers.0.attn.qkv.weight': (1, 0.7**2, 0.05),
        'backbone.layers.0.ln1.weight': (1, 0.7**2, 0.0),
        'backbone.layers.1.ffn.layers.1.weight': (2, 0.7, 0.05),
        'backbone.layers.1.attn.qkv.bias': (2, 0.7, 0.0),
        'backbone.ln2.weight': (3, 1.0, 0.0),
        'cls_head.fc_cls.weight': (3, 1.0, 0.05),
        'cls_head.fc_cls.bias': (3, 1.0, 0.0),
    }
    for name, (layer, scale, weight_decay) in expected.items():
        group = by_name[name]
        assert group['layer_id'] == layer, name
        assert group['lr_scale'] == pytest.approx(scale) and group['lr'] == pytest.approx(1e-3 * scale), name
        assert group['weight_decay'] == weight_decay, name
    assert sorted({g['layer_id'] for g in groups}) == [0, 1, 2, 3]
