"""Encoder, decoder, head and algorithm on tiny inputs."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

import m33d_mm.models  # noqa: F401
from m33d_mm.models import RGBDViT, patchify, sincos_pos_embed, unpatchify
from m33d_mm.models.utils import keep_ids_to_mask, random_keep_ids

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def make_inputs(batch=2, height=32, width=48, frames=None):
    shape = (batch, 3) + ((frames, ) if frames else ()) + (height, width)
    rgb = torch.randn(shape)
    depth = torch.randn(shape[:1] + (1, ) + shape[2:])
    valid = torch.rand(depth.shape) > 0.1
    return dict(rgb=rgb, depth=depth, valid=dict(depth=valid))


def build_m33d(**kwargs):
    cfg = dict(
        type='M33D',
        backbone=dict(type='RGBDViT', arch=TINY, patch_size=8),
        neck=dict(type='RGBDMAEDecoder', patch_size=8, in_channels=32, embed_dims=16, num_layers=1, num_heads=2),
        head=dict(type='RGBDReconstructionHead', patch_size=8),
        contrastive_loss=dict(type='PatchInfoNCELoss'),
        matching_head=dict(type='RGBDMatchingHead', in_channels=32))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('size', [(32, 32), (32, 48), (48, 32)])
@pytest.mark.parametrize('shared', [True, False])
def test_mim_shapes_square_and_non_square(size, shared):
    vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=dict(rgb=0.75, depth=0.5), shared_encoder=shared)
    vit.init_weights()
    enc = vit.forward_mim(make_inputs(height=size[0], width=size[1]))
    num = (size[0] // 8) * (size[1] // 8)
    assert enc.grid == (size[0] // 8, size[1] // 8)
    assert enc.latent['rgb'].shape == (2, round(num * 0.25), 32)
    assert enc.latent['depth'].shape == (2, round(num * 0.5), 32)
    for name in ('rgb', 'depth'):
        assert enc.mask[name].shape == (2, num)
        assert int(enc.mask[name][0].sum()) == num - enc.ids_keep[name].shape[1]
        # visible tokens are exactly the unmasked ones
        assert torch.all(enc.mask[name].gather(1, enc.ids_keep[name]) == 0)


def test_modality_specific_encoders_have_separate_weights():
    shared = RGBDViT(arch=TINY, patch_size=8, shared_encoder=True)
    separate = RGBDViT(arch=TINY, patch_size=8, shared_encoder=False)
    n_shared = sum(p.numel() for p in shared.parameters())
    n_layers = sum(p.numel() for p in shared.layers.parameters()) + sum(p.numel() for p in shared.ln1.parameters())
    assert sum(p.numel() for p in separate.parameters()) == n_shared + n_layers
    assert not separate.cross_modal_attention
    with pytest.raises(ValueError, match='cross_modal_attention=True needs backbone.shared_encoder=True'):
        RGBDViT(arch=TINY, patch_size=8, shared_encoder=False, cross_modal_attention=True)
    separate.init_weights()
    feats = separate.forward_modalities(make_inputs())
    assert feats['rgb'].shape == feats['depth'].shape == (2, 24, 32)


def test_cross_modal_attention_mixes_modalities_only_when_enabled():
    torch.manual_seed(0)
    inputs = make_inputs()
    for joint in (True, False):
        vit = RGBDViT(arch=TINY, patch_size=8, mask_ratio=0.5, cross_modal_attention=joint)
        vit.init_weights()
        torch.manual_seed(1)
        rgb_latent = vit.forward_mim(inputs).latent['rgb']
        changed = dict(inputs, depth=inputs['depth'] + 1.0)
        torch.manual_seed(1)
        rgb_latent_changed = vit.forward_mim(changed).latent['rgb']
        assert torch.allclose(rgb_latent, rgb_latent_changed) is (not joint)


@pytest.mark.parametrize('out_type,shape', [('featmap', (2, 32, 4, 6)), ('avg_featmap', (2, 32)),
                                            ('cls_token', (2, 32)), ('raw', (2, 25, 32))])
def test_downstream_forward_rgb_only(out_type, shape):
    vit = RGBDViT(arch=TINY, patch_size=8, modalities=dict(rgb=3), out_type=out_type, out_indices=(0, -1))
    vit.init_weights()
    outs = vit(torch.randn(2, 3, 32, 48))
    assert len(outs) == 2 and all(o.shape == shape for o in outs)


def test_video_tubelets_and_tube_masking():
    vit = RGBDViT(arch=TINY, patch_size=8, tubelet_size=2, mask_ratio=0.75)
    vit.init_weights()
    enc = vit.forward_mim(make_inputs(frames=4, height=16, width=32))
    assert enc.grid == (2, 2, 4)
    mask = enc.mask['rgb'].view(2, 2, 8)
    assert torch.equal(mask[:, 0], mask[:, 1])  # same spatial mask in every time slot


@pytest.mark.parametrize('arch', ['small', 'deit-small', 'b', 'deit-tiny'])
def test_arch_names_mean_what_they_mean_in_mmpretrain(arch):
    from mmpretrain.models import VisionTransformer
    vit = RGBDViT(arch=arch, patch_size=16, modalities=dict(rgb=3))
    stock = VisionTransformer.arch_zoo[arch]
    assert (vit.embed_dims, vit.num_layers) == (stock['embed_dims'], stock['num_layers'])
    layer = vit.layers[0]
    assert layer.attn.num_heads == stock['num_heads']
    assert layer.ffn.layers[0][0].out_features == stock['feedforward_channels']


def test_bad_inputs_raise_clear_errors():
    vit = RGBDViT(arch=TINY, patch_size=8)
    with pytest.raises(ValueError, match='not divisible by the patch size 8'):
        vit.forward_mim(make_inputs(height=30, width=48))
    with pytest.raises(ValueError, match='expected .* C=1'):
        vit.forward_mim(dict(rgb=torch.randn(1, 3, 16, 16), depth=torch.randn(1, 3, 16, 16)))
    with pytest.raises(KeyError, match='lack modality "depth"'):
        vit.forward_mim(dict(rgb=torch.randn(1, 3, 16, 16)))
    with pytest.raises(KeyError, match='unknown arch'):
        RGBDViT(arch='gigantic')
    with pytest.raises(KeyError, match='"deit-tiny", as in mmpretrain'):
        RGBDViT(arch='tiny')
    with pytest.raises(KeyError, match='mask_ratio'):
        RGBDViT(arch=TINY, mask_ratio=dict(rgb=0.5))


def test_sincos_rows_follow_row_major_order_on_non_square_grids():
    pos = sincos_pos_embed((3, 5), 16)
    assert pos.shape == (15, 16)
    # the first half encodes the row, the second half the column
    assert torch.allclose(pos[1, :8], pos[0, :8]) and not torch.allclose(pos[1, 8:], pos[0, 8:])
    assert torch.allclose(pos[5, 8:], pos[0, 8:]) and not torch.allclose(pos[5, :8], pos[0, :8])
    assert torch.allclose(pos[7, 0:4], torch.sin(torch.tensor([1.0]) / 10000**(torch.arange(4) / 4)))
    assert len({tuple(r.tolist()) for r in pos}) == 15
    assert sincos_pos_embed((2, 3, 5), 32).shape == (30, 32)


@pytest.mark.parametrize('shape,tubelet', [((2, 3, 16, 24), 1), ((2, 1, 4, 16, 8), 2)])
def test_patchify_round_trip(shape, tubelet):
    x = torch.randn(shape)
    patches = patchify(x, 8, tubelet)
    grid = tuple(s // 8 for s in shape[-2:])
    if len(shape) == 5:
        grid = (shape[2] // tubelet, ) + grid
    assert patches.shape == (2, math.prod(grid), shape[1] * tubelet * 64)
    assert torch.equal(unpatchify(patches, grid, shape[1], 8, tubelet), x)
    # the first token is the top-left patch
    assert torch.equal(patches[0, 0].view(tubelet, 8, 8, shape[1]).permute(3, 0, 1, 2).squeeze(1),
                       x[0, ..., :tubelet, :8, :8].squeeze(1) if len(shape) == 5 else x[0, :, :8, :8])


def test_random_keep_ids_ratio_and_uniqueness():
    ids = random_keep_ids(3, (4, 5), 0.8, tube=False, device=torch.device('cpu'))
    assert ids.shape == (3, 4)
    assert all(len(set(row.tolist())) == 4 for row in ids)
    mask = keep_ids_to_mask(ids, 20)
    assert torch.all(mask.sum(1) == 16)
    with pytest.raises(ValueError, match='mask_ratio'):
        random_keep_ids(1, (2, 2), 1.0, tube=False, device=torch.device('cpu'))


def test_decoder_predicts_every_token_of_every_modality():
    model = build_m33d()
    inputs = make_inputs(height=24, width=40)
    enc = model.backbone.forward_mim(inputs)
    preds = model.neck(enc)
    assert preds['rgb'].shape == (2, 15, 8 * 8 * 3)
    assert preds['depth'].shape == (2, 15, 8 * 8 * 1)


def test_algorithm_loss_terms_follow_weights():
    inputs = make_inputs(batch=3)
    model = build_m33d(loss_weights=dict(rgb=1., depth=2., contrastive=0.5, matching=0.25),
                       cross_modal_tokens='shared_visible')
    losses = model.loss(inputs)
    assert set(losses) == {'loss_rgb', 'loss_depth', 'loss_contrastive', 'loss_matching'}
    sum(losses.values()).backward()
    assert model.backbone.patch_embed['depth'].projection.weight.grad is not None
    assert model.matching_head.classifier.weight.grad is not None

    torch.manual_seed(0)
    unweighted = build_m33d(loss_weights=dict(rgb=1., depth=1.))
    torch.manual_seed(0)
    weighted = build_m33d(loss_weights=dict(rgb=3., depth=0.5))
    torch.manual_seed(5)
    a = unweighted.loss(inputs)
    torch.manual_seed(5)
    b = weighted.loss(inputs)
    assert set(a) == {'loss_rgb', 'loss_depth'}
    assert torch.allclose(b['loss_rgb'], 3 * a['loss_rgb']) and torch.allclose(b['loss_depth'], 0.5 * a['loss_depth'])


def test_stage1_needs_no_decoder_and_sees_every_patch():
    model = build_m33d(neck=None, head=None, loss_weights=dict(rgb=0., depth=0., contrastive=1.))
    seen = {}
    original = model.contrastive_loss.forward

    def spy(rgb, depth):
        seen['shape'] = rgb.shape
        return original(rgb, depth)

    model.contrastive_loss.forward = spy
    losses = model.loss(make_inputs())
    assert set(losses) == {'loss_contrastive'} and seen['shape'] == (2, 24, 32)


def test_algorithm_config_errors_name_the_key():
    with pytest.raises(ValueError, match='loss_weights.rgb > 0 needs model.neck'):
        build_m33d(neck=None)
    with pytest.raises(ValueError, match='contrastive > 0 needs model.contrastive_loss'):
        build_m33d(contrastive_loss=None, loss_weights=dict(contrastive=1.))
    with pytest.raises(KeyError, match='unknown terms'):
        build_m33d(loss_weights=dict(rgb=1., depht=1.))
    with pytest.raises(ValueError, match='cross_modal_tokens'):
        build_m33d(cross_modal_tokens='some')


def test_extract_feat_returns_rgb_feature_maps():
    model = build_m33d()
    feats = model.extract_feat(make_inputs())
    assert feats[0].shape == (2, 32, 4, 6)


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = RGBDViT(arch=TINY, patch_size=8)
    plain.init_weights()
    ckpt = RGBDViT(arch=TINY, patch_size=8, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = make_inputs()
    grads = []
    for model in (plain, ckpt):
        model.train()
        out = model.forward_modalities(x)
        (out['rgb'].pow(2).mean() + out['depth'].mean()).backward()
        grads.append(model.layers[0].attn.qkv.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
