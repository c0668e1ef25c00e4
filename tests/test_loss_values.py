"""The per-term losses of a tiny M3D model on fixed inputs and seeds stay the values recorded for them.

The values were recorded from the reference implementation; any refactoring of the encoder, decoder, heads or
the weighting must reproduce them (the same random draws in the same order, the same arithmetic).
"""
import pytest
import torch

from test_models import TINY, build_m33d
WEIGHTS = dict(rgb=0.7, depth=1.3, contrastive=0.5, matching=0.25)

CASES = {
    'image, shared visible': (dict(), False, {
        'loss_rgb': 0.7974321842193604, 'loss_depth': 1.1939231157302856,
        'loss_contrastive': 0.9896465539932251, 'loss_matching': 0.18137884140014648}),
    'image, all tokens': (dict(cross_modal_tokens='all'), False, {
        'loss_rgb': 0.7974321842193604, 'loss_depth': 1.1939231157302856,
        'loss_contrastive': 2.39019513130188, 'loss_matching': 0.1744215488433838}),
    'image, stage 1': (dict(neck=None, head=None, loss_weights=dict(rgb=0, depth=0, contrastive=1.)), False, {
        'loss_contrastive': 2.7889015674591064}),
    'video': (dict(backbone=dict(type='RGBDViT', arch=TINY, patch_size=8, tubelet_size=2, with_cls_token=False,
                                 mask_ratio=0.75),
                   neck=dict(type='RGBDMAEDecoder', patch_size=8, tubelet_size=2, in_channels=32, embed_dims=16,
                             num_layers=1, num_heads=2),
                   head=dict(type='RGBDReconstructionHead', patch_size=8, tubelet_size=2,
                             losses=dict(rgb=dict(type='RGBReconstructionLoss'),
                                         depth=dict(type='DepthReconstructionLoss', mode='mse')))), True, {
        'loss_rgb': 0.7483503222465515, 'loss_depth': 1.5477051734924316,
        'loss_contrastive': 1.7909654378890991, 'loss_matching': 0.1780732423067093}),
}


def build(**kwargs):
    torch.manual_seed(0)
    return build_m33d(**dict(dict(loss_weights=WEIGHTS, cross_modal_tokens='shared_visible'), **kwargs))


def fixed_inputs(video: bool):
    gen = torch.Generator().manual_seed(1)
    grid = (4, 32, 32) if video else (32, 48)
    rgb = torch.randn(3, 3, *grid, generator=gen)
    depth = torch.randn(3, 1, *grid, generator=gen)
    return dict(rgb=rgb, depth=depth, valid=dict(depth=torch.rand(3, 1, *grid, generator=gen) > 0.2))


@pytest.mark.parametrize('case', sorted(CASES))
def test_loss_terms_keep_their_recorded_values(case):
    kwargs, video, expected = CASES[case]
    model = build(**kwargs)
    torch.manual_seed(7)
    losses = {k: float(v) for k, v in model.loss(fixed_inputs(video)).items()}
    assert set(losses) == set(expected)
    for key, value in expected.items():
        assert losses[key] == pytest.approx(value, rel=1e-6, abs=1e-7), key


def test_checkpoints_with_the_matching_classifier_in_the_loss_module_still_load():
    model = build()
    state = model.state_dict()
    old = {(k.replace('matching_head.', 'matching_loss.', 1) if k.startswith('matching_head.') else k): v
           for k, v in state.items()}
    assert 'matching_loss.classifier.weight' in old and not any(k.startswith('matching_head.') for k in old)
    torch.manual_seed(1)
    fresh = build_m33d(loss_weights=WEIGHTS, cross_modal_tokens='shared_visible')
    fresh.load_state_dict(old, strict=True)
    assert torch.equal(fresh.matching_head.classifier.weight, model.matching_head.classifier.weight)
    assert torch.equal(fresh.matching_head.classifier.bias, model.matching_head.classifier.bias)
