"""Masking strategies of RGBDViT: independent, Dirichlet (MultiMAE) and cross-modal (one modality hidden)."""
import pytest
import torch
from mmpretrain.registry import MODELS

import m33d_mm.models  # noqa: F401
from m33d_mm.models import RGBDViT

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
GRID = (4, 6)  # 32 x 48 inputs, patch 8
N = 24


def inputs(batch=8, frames=None):
    shape = (batch, 3) + ((frames, ) if frames else ()) + (32, 48)
    return dict(rgb=torch.randn(shape), depth=torch.randn((batch, 1) + shape[2:]))


def visible(encoding, name):
    """Visible-token count per sample, from the mask."""
    return (encoding.mask[name] == 0).sum(1)


def test_independent_counts_are_the_per_modality_ratios():
    torch.manual_seed(0)
    vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=dict(rgb=0.75, depth=0.5))
    enc = vit.forward_mim(inputs())
    assert visible(enc, 'rgb').tolist() == [6] * 8 and visible(enc, 'depth').tolist() == [12] * 8
    assert enc.latent['rgb'].shape == (8, 6, 32) and enc.latent['depth'].shape == (8, 12, 32)


def test_independent_default_draws_the_same_masks_as_before():
    """The default keeps the per-modality sampler call for call, so existing runs reproduce."""
    vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=0.75)
    x = inputs()
    torch.manual_seed(3)
    enc = vit.forward_mim(x)
    torch.manual_seed(3)
    expected = [vit.sample_keep_ids(8, GRID, 0.75, 'cpu') for _ in range(2)]
    assert torch.equal(enc.ids_keep['rgb'], expected[0]) and torch.equal(enc.ids_keep['depth'], expected[1])


@pytest.mark.parametrize('alpha', [0.2, 1.0, 5.0])
def test_dirichlet_splits_one_budget_per_sample(alpha):
    torch.manual_seed(0)
    vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=dict(rgb=0.75, depth=0.75),
                  masking=dict(type='dirichlet', alpha=alpha))
    enc = vit.forward_mim(inputs(batch=64))
    rgb, depth = visible(enc, 'rgb'), visible(enc, 'depth')
    assert ((rgb + depth) == 12).all()  # 6 + 6 visible tokens, split differently per sample
    assert len(set(rgb.tolist())) > 2 and (rgb <= N).all() and (depth <= N).all()
    # every kept index is visible in the mask and every visible token is kept (padding repeats a kept one)
    for name in ('rgb', 'depth'):
        for b in range(64):
            kept = set(enc.ids_keep[name][b].tolist())
            shown = set((enc.mask[name][b] == 0).nonzero().flatten().tolist())
            assert kept == shown or (not shown and enc.mask[name][b].all())


def test_dirichlet_small_alpha_gives_extreme_splits_large_alpha_even_ones():
    torch.manual_seed(0)
    spread = {}
    for alpha in (0.1, 50.0):
        vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=0.75, masking=dict(type='dirichlet', alpha=alpha))
        counts = vit.visible_counts(512, GRID, vit.mask_ratio, 'cpu')
        assert (counts.sum(1) == 12).all()
        spread[alpha] = (counts[:, 0] - 6).abs().float().mean().item()
    assert spread[0.1] > 4 and spread[50.0] < 1.5


def test_dirichlet_budget_never_exceeds_a_modality_s_tokens():
    torch.manual_seed(0)
    vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=dict(rgb=0.1, depth=0.1),
                  masking=dict(type='dirichlet', alpha=0.1))
    counts = vit.visible_counts(256, GRID, vit.mask_ratio, 'cpu')
    assert (counts.sum(1) == 44).all() and (counts <= N).all()


def test_cross_modal_hides_a_modality_entirely_in_the_given_fraction():
    torch.manual_seed(0)
    vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=0.75,
                  masking=dict(type='cross_modal', hide_fraction=0.5, hide='depth'))
    enc = vit.forward_mim(inputs(batch=200))
    depth, rgb = visible(enc, 'depth'), visible(enc, 'rgb')
    hidden = depth == 0
    assert 70 < int(hidden.sum()) < 130
    assert set(depth[~hidden].tolist()) == {6} and set(rgb.tolist()) == {6}


def test_a_hidden_modality_gives_the_encoder_no_information():
    """The latents of a sample whose depth is hidden do not change when its depth input does."""
    vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=0.5,
                  masking=dict(type='cross_modal', hide_fraction=1.0, hide='depth'))
    vit.init_weights()
    vit.eval()
    x = inputs(batch=4)
    other = dict(x, depth=torch.randn_like(x['depth']) * 10)
    torch.manual_seed(1)
    first = vit.forward_mim(x)
    torch.manual_seed(1)
    second = vit.forward_mim(other)
    assert (first.mask['depth'] == 1).all()
    for name in ('rgb', 'depth'):
        assert torch.allclose(first.latent[name], second.latent[name], atol=1e-5)
    # ... while with depth visible it does (the check can fail)
    vit.masking = dict(type='independent')
    torch.manual_seed(1)
    a = vit.forward_mim(x)
    torch.manual_seed(1)
    b = vit.forward_mim(other)
    assert not torch.allclose(a.latent['rgb'], b.latent['rgb'], atol=1e-3)


def test_cross_modal_random_modality_hides_each_one():
    torch.manual_seed(0)
    vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=0.75, masking=dict(type='cross_modal', hide_fraction=1.0))
    counts = vit.visible_counts(100, GRID, vit.mask_ratio, 'cpu')
    assert ((counts == 0).sum(1) == 1).all()
    assert 20 < int((counts[:, 0] == 0).sum()) < 80


def test_tube_masking_with_dirichlet_keeps_the_same_positions_in_every_time_slot():
    torch.manual_seed(0)
    vit = RGBDViT(arch=TINY, patch_size=8, tubelet_size=2, mask_ratio=0.75, masking='dirichlet')
    enc = vit.forward_mim(inputs(batch=4, frames=4))
    for name in ('rgb', 'depth'):
        mask = enc.mask[name].view(4, 2, N)
        assert torch.equal(mask[:, 0], mask[:, 1])
    assert ((visible(enc, 'rgb') + visible(enc, 'depth')) == 2 * 12).all()


@pytest.mark.parametrize('masking', ['dirichlet', dict(type='cross_modal', hide_fraction=0.5)])
def test_m33d_trains_with_each_strategy(masking):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='M33D',
        backbone=dict(type='RGBDViT', arch=TINY, patch_size=8, masking=masking),
        neck=dict(type='RGBDMAEDecoder', patch_size=8, in_channels=32, embed_dims=16, num_layers=1, num_heads=2),
        head=dict(type='RGBDReconstructionHead', patch_size=8),
        loss_weights=dict(rgb=1., depth=1., contrastive=0.)))
    model.init_weights()
    x = dict(inputs(batch=4), valid=dict(depth=torch.ones(4, 1, 32, 48, dtype=torch.bool)))
    losses = model.loss(x)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.patch_embed['depth'].projection.weight.grad is not None


@pytest.mark.parametrize('masking, message', [
    ('random', 'backbone.masking.type: unknown "random"'),
    (dict(alpha=1.0), 'backbone.masking: expected'),
    (dict(type='dirichlet', alpha=0), 'backbone.masking.alpha must be > 0'),
    (dict(type='dirichlet', hide='rgb'), '"dirichlet" takes [\'alpha\']'),
    (dict(type='cross_modal', hide_fraction=1.5), 'hide_fraction must be in [0, 1]'),
    (dict(type='cross_modal', hide='normals'), 'backbone.masking.hide: "normals"'),
])
def test_bad_masking_options_name_the_key(masking, message):
    with pytest.raises(ValueError) as err:
        RGBDViT(arch=TINY, patch_size=8, masking=masking)
    assert message in str(err.value)


def test_multi_modal_masking_needs_two_modalities():
    with pytest.raises(ValueError, match='needs two or more modalities'):
        RGBDViT(arch=TINY, patch_size=8, modalities=dict(rgb=3), masking='dirichlet')
