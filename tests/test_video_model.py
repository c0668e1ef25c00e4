"""The video side of the model: tubelets, tube masks, eq. (5) losses, VideoMAE weights and the video configs."""
import math
from pathlib import Path

import m33d_mm  # noqa: F401  (stack fixes first)
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import m33d_mm.models  # noqa: F401
from m33d_mm.models import DepthReconstructionLoss, RGBDReconstructionHead, RGBDViT, RGBReconstructionLoss

REPO = Path(__file__).resolve().parents[1]
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    # other test modules leave another default scope behind (mmseg, mmaction); M3D lives in mmpretrain's
    init_default_scope('mmpretrain')


def video_inputs(batch=2, frames=4, height=32, width=32):
    return dict(rgb=torch.randn(batch, 3, frames, height, width), depth=torch.randn(batch, 1, frames, height, width),
                valid=dict(depth=torch.rand(batch, 1, frames, height, width) > 0.1))


def build_video_m33d():
    model = MODELS.build(dict(
        type='M33D',
        backbone=dict(type='RGBDViT', arch=TINY, patch_size=8, tubelet_size=2, mask_ratio=0.75,
                      with_cls_token=False),
        neck=dict(type='RGBDMAEDecoder', patch_size=8, tubelet_size=2, in_channels=32, embed_dims=16,
                  num_layers=1, num_heads=2),
        head=dict(type='RGBDReconstructionHead', patch_size=8, tubelet_size=2,
                  losses=dict(rgb=dict(type='RGBReconstructionLoss'),
                              depth=dict(type='DepthReconstructionLoss', mode='mse'))),
        contrastive_loss=dict(type='PatchInfoNCELoss'),
        matching_head=dict(type='RGBDMatchingHead', in_channels=32),
        loss_weights=dict(rgb=1., depth=1., contrastive=1., matching=1.),
        cross_modal_tokens='shared_visible'))
    model.init_weights()
    return model


# ---------------------------------------------------------------------------------------------- tubelets, masks

def test_tubelet_embedding_shapes():
    vit = RGBDViT(arch=TINY, patch_size=8, tubelet_size=2, with_cls_token=False, out_type='featmap')
    vit.init_weights()
    assert vit.patch_embed['rgb'].projection.weight.shape == (32, 3, 2, 8, 8)
    assert vit.patch_embed['depth'].projection.weight.shape == (32, 1, 2, 8, 8)
    clip = torch.randn(2, 3, 8, 32, 48)
    tokens, grid = vit.patch_embed['rgb'](clip)
    assert grid == (4, 4, 6) and tokens.shape == (2, 4 * 4 * 6, 32)
    assert vit(clip)[0].shape == (2, 32, 4, 4, 6)
    with pytest.raises(ValueError, match='not divisible by the tubelet size 2'):
        vit(torch.randn(1, 3, 3, 32, 32))


def test_tube_masks_repeat_one_spatial_mask_per_modality():
    vit = RGBDViT(arch=TINY, patch_size=8, tubelet_size=2, mask_ratio=dict(rgb=0.9, depth=0.75),
                  with_cls_token=False)
    vit.init_weights()
    torch.manual_seed(0)
    enc = vit.forward_mim(video_inputs(batch=3, frames=8, height=32, width=40))
    t, h, w = enc.grid
    assert (t, h, w) == (4, 4, 5)
    for name, ratio in (('rgb', 0.9), ('depth', 0.75)):
        mask = enc.mask[name].view(3, t, h * w)
        assert torch.equal(mask, mask[:, :1].expand_as(mask)), f'{name}: spatial mask differs between time slots'
        keep = round(h * w * (1 - ratio))
        assert enc.latent[name].shape == (3, keep * t, 32)
        assert torch.all(mask.sum(-1) == h * w - keep)
    # independent masks per modality (20 positions, 2 vs 5 kept: equal masks in all 3 samples is implausible)
    assert not torch.equal(enc.mask['rgb'], enc.mask['depth'])


def test_without_tube_masking_time_slots_differ():
    vit = RGBDViT(arch=TINY, patch_size=8, tubelet_size=2, mask_ratio=0.5, tube_masking=False)
    torch.manual_seed(0)
    enc = vit.forward_mim(video_inputs(batch=2, frames=8, height=32, width=32))
    mask = enc.mask['rgb'].view(2, 4, 16)
    assert not torch.equal(mask, mask[:, :1].expand_as(mask))


# ---------------------------------------------------------------------------------------------- losses


def test_depth_mse_loss_matches_hand_computed_values():
    pred = torch.tensor([[[1., 2.], [3., 4.]]])
    target = torch.tensor([[[0., 0.], [1., 1.]]])
    mask = torch.tensor([[1., 0.]])  # only token 0 is masked
    loss = DepthReconstructionLoss(mode='mse')
    assert loss(pred, target, mask).item() == pytest.approx((1 + 4) / 2)
    valid = torch.tensor([[[1., 0.], [1., 1.]]])  # token 0's second pixel has no depth reading
    assert loss(pred, target, mask, valid).item() == pytest.approx(1.0)
    both = torch.ones(1, 2)
    assert loss(pred, target, both).item() == pytest.approx((1 + 4 + 4 + 9) / 4)


def test_rgb_target_is_normalised_per_tubelet():
    head = RGBDReconstructionHead(patch_size=2, tubelet_size=2)
    # one 2x2 spatial patch, 4 frames = two tubelets of 2x2x2x3 = 24 values; the second is the first + 100
    first = torch.arange(24.).view(3, 2, 2, 2)
    clip = torch.cat([first, first + 100], dim=1)[None]
    target = head.construct_target('rgb', clip)
    assert target.shape == (1, 2, 24)
    values = torch.arange(24.)
    expected = (values - values.mean()) / math.sqrt(values.var().item() + 1e-6)  # unbiased var = 50
    assert values.var().item() == pytest.approx(50.0)
    for token in range(2):
        assert torch.allclose(target[0, token].sort().values, expected, atol=1e-5)
    assert torch.allclose(target[0, 0], target[0, 1], atol=1e-5)  # per tubelet: the +100 offset is gone
    # eq. (1) averages the squared error over a masked token's pixels, then over masked tokens
    pred = torch.zeros(1, 2, 24)
    loss = RGBReconstructionLoss()(pred, target, torch.tensor([[0., 1.]]))
    assert loss.item() == pytest.approx(expected.pow(2).mean().item(), rel=1e-5)


def test_contrastive_and_matching_share_the_masked_pass_positions():
    model = build_video_m33d()
    captured = {}
    forward_mim, forward_modalities = model.backbone.forward_mim, model.backbone.forward_modalities
    pair_logits = model.matching_head.pair_logits

    def spy_mim(inputs, *args, **kwargs):
        captured['encoding'] = forward_mim(inputs, *args, **kwargs)
        return captured['encoding']

    def spy_modalities(inputs, ids_keep=None):
        captured['ids_keep'] = ids_keep
        captured['feats'] = forward_modalities(inputs, ids_keep=ids_keep)
        return captured['feats']

    def spy_pairs(rgb, depth):
        captured['pairs'] = (rgb.detach(), depth.detach())
        return pair_logits(rgb, depth)

    model.backbone.forward_mim = spy_mim
    model.backbone.forward_modalities = spy_modalities
    model.matching_head.pair_logits = spy_pairs
    torch.manual_seed(0)
    inputs = video_inputs(batch=3, frames=4, height=32, width=32)
    losses = model.loss(inputs)
    assert set(losses) == {'loss_rgb', 'loss_depth', 'loss_contrastive', 'loss_matching'}
    assert all(torch.isfinite(v) for v in losses.values())

    # the cross-modal terms see the RGB-visible positions of this step's masked pass, the same for both
    # modalities: token j of the RGB features and token j of the depth features are the same tube
    encoding = captured['encoding']
    assert torch.equal(captured['ids_keep'], encoding.ids_keep['rgb'])
    t, h, w = encoding.grid
    keep_spatial = round(h * w * 0.25)
    assert captured['ids_keep'].shape == (3, t * keep_spatial)
    assert captured['feats']['rgb'].shape == captured['feats']['depth'].shape == (3, t * keep_spatial, 32)
    # visible positions form tubes: the same spatial positions in every time slot
    spatial = captured['ids_keep'].view(3, t, keep_spatial) % (h * w)
    assert torch.equal(spatial, spatial[:, :1].expand_as(spatial))

    # matching: B matched pairs, then B pairs of each RGB with the depth of another sample of the batch
    rgb, depth = captured['pairs']
    assert rgb.shape == (6, 32)
    assert torch.equal(rgb[:3], rgb[3:])
    matched, unmatched = depth[:3], depth[3:]
    perm = [int((matched == row).all(dim=1).nonzero()) for row in unmatched]
    assert sorted(perm) == [0, 1, 2] and all(i != j for j, i in enumerate(perm))

    sum(losses.values()).backward()
    for name in ('backbone.patch_embed.depth.projection.weight', 'matching_head.classifier.weight',
                 'neck.heads.depth.weight', 'backbone.layers.0.attn.qkv.weight'):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


# ---------------------------------------------------------------------------------------------- VideoMAE weights

def fake_videomae_release(embed=32, layers=2, hidden=64, patch=8, tubelet=2, seed=0):
    """State dict laid out like VideoMAE's released pre-training checkpoints (random values)."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=gen) * 0.1

    sd = {'encoder.patch_embed.proj.weight': rnd(embed, 3, tubelet, patch, patch),
          'encoder.patch_embed.proj.bias': rnd(embed)}
    for i in range(layers):
        p = f'encoder.blocks.{i}.'
        sd.update({p + 'norm1.weight': 1 + rnd(embed), p + 'norm1.bias': rnd(embed),
                   p + 'attn.qkv.weight': rnd(3 * embed, embed), p + 'attn.q_bias': rnd(embed),
                   p + 'attn.v_bias': rnd(embed), p + 'attn.proj.weight': rnd(embed, embed),
                   p + 'attn.proj.bias': rnd(embed), p + 'norm2.weight': 1 + rnd(embed), p + 'norm2.bias': rnd(embed),
                   p + 'mlp.fc1.weight': rnd(hidden, embed), p + 'mlp.fc1.bias': rnd(hidden),
                   p + 'mlp.fc2.weight': rnd(embed, hidden), p + 'mlp.fc2.bias': rnd(embed)})
    sd.update({'encoder.norm.weight': 1 + rnd(embed), 'encoder.norm.bias': rnd(embed),
               # the pre-training decoder, dropped by the loader
               'encoder_to_decoder.weight': rnd(16, embed), 'mask_token': rnd(1, 1, 16),
               'decoder.blocks.0.norm1.weight': rnd(16), 'decoder.norm.weight': rnd(16),
               'decoder.head.weight': rnd(3 * tubelet * patch * patch, 16)})
    return sd


def videomae_block(x, sd, i, heads=2):
    """VideoMAE's encoder block written out from the release keys (query and value biases, no key bias)."""
    p = f'encoder.blocks.{i}.'
    batch, num, dims = x.shape
    h = F.layer_norm(x, (dims, ), sd[p + 'norm1.weight'], sd[p + 'norm1.bias'], eps=1e-6)
    bias = torch.cat([sd[p + 'attn.q_bias'], torch.zeros_like(sd[p + 'attn.q_bias']), sd[p + 'attn.v_bias']])
    q, k, v = F.linear(h, sd[p + 'attn.qkv.weight'], bias).view(batch, num, 3, heads, -1).permute(2, 0, 3, 1, 4)
    attn = ((q @ k.transpose(-2, -1)) * (dims // heads)**-0.5).softmax(-1)
    x = x + F.linear((attn @ v).transpose(1, 2).reshape(batch, num, dims), sd[p + 'attn.proj.weight'],
                     sd[p + 'attn.proj.bias'])
    h = F.layer_norm(x, (dims, ), sd[p + 'norm2.weight'], sd[p + 'norm2.bias'], eps=1e-6)
    h = F.linear(F.gelu(F.linear(h, sd[p + 'mlp.fc1.weight'], sd[p + 'mlp.fc1.bias'])), sd[p + 'mlp.fc2.weight'],
                 sd[p + 'mlp.fc2.bias'])
    return x + h


def videomae_position_table(num, dims):
    """VideoMAE's table: position / 10000^(2 (j // 2) / C), sin on even and cos on odd channels j."""
    angles = torch.tensor([[pos / 10000**(2 * (j // 2) / dims) for j in range(dims)] for pos in range(num)],
                          dtype=torch.float64)
    table = angles.clone()
    table[:, 0::2], table[:, 1::2] = angles[:, 0::2].sin(), angles[:, 1::2].cos()
    return table.float()


def test_videomae_release_checkpoint_loads_and_computes_like_videomae(tmp_path):
    sd = fake_videomae_release()
    path = tmp_path / 'videomae_pretrain.pth'
    torch.save(dict(model=sd), path)
    vit = RGBDViT(arch=TINY, patch_size=8, tubelet_size=2, with_cls_token=False, pos_embed_layout='1d',
                  pretrained=str(path))
    vit.init_weights()
    # release files hold no position table: the configured VideoMAE layout stays, and it is VideoMAE's table
    assert vit.pos_embed_layout == '1d'
    assert torch.allclose(vit.pos_embed((2, 2, 3), 'cpu', torch.float32)[0], videomae_position_table(12, 32),
                          atol=1e-6)

    qkv_bias = vit.layers[1].attn.qkv.bias
    assert torch.equal(qkv_bias[:32], sd['encoder.blocks.1.attn.q_bias'])
    assert torch.equal(qkv_bias[32:64], torch.zeros(32))
    assert torch.equal(qkv_bias[64:], sd['encoder.blocks.1.attn.v_bias'])
    assert torch.equal(vit.ln1.weight, sd['encoder.norm.weight'])
    rgb_kernel = sd['encoder.patch_embed.proj.weight']
    assert torch.equal(vit.patch_embed['rgb'].projection.weight, rgb_kernel)
    # the depth tubelet kernel has no pretrained counterpart: the RGB kernel averaged over colour channels
    assert torch.allclose(vit.patch_embed['depth'].projection.weight, rgb_kernel.mean(1, keepdim=True))

    clip = torch.randn(1, 3, 4, 16, 24)
    tokens, _ = vit.patch_embed['rgb'](clip)
    reference = F.conv3d(clip, rgb_kernel, sd['encoder.patch_embed.proj.bias'], stride=(2, 8, 8))
    assert torch.allclose(tokens, reference.flatten(2).transpose(1, 2), atol=1e-5)
    x = torch.randn(2, 7, 32)
    ours, ref = x, x
    for i in range(2):
        ours, ref = vit.layers[i](ours), videomae_block(ref, sd, i)
    assert torch.allclose(vit.ln1(ours), F.layer_norm(ref, (32, ), sd['encoder.norm.weight'],
                                                        sd['encoder.norm.bias'], eps=1e-6), atol=1e-5)


def test_videomae_checkpoint_into_a_model_with_class_token_names_the_gap(tmp_path):
    path = tmp_path / 'videomae_pretrain.pth'
    torch.save(dict(model=fake_videomae_release()), path)
    vit = RGBDViT(arch=TINY, patch_size=8, tubelet_size=2, with_cls_token=True, pretrained=str(path))
    with pytest.raises(KeyError, match='cls_token'):
        vit.init_weights()


# ---------------------------------------------------------------------------------------------- configs

@pytest.mark.parametrize('name', ['m33d/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd.py',
                                  'm33d/m33d-video_vit-base-p16_8xb24-100e_orar-rgbd.py'])
def test_vitb_video_configs_build(name):
    cfg = Config.fromfile(str(REPO / 'configs' / name))
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.patch_size, backbone.tubelet_size) == ('base', 16, 2)
    assert backbone.mask_ratio == dict(rgb=0.9, depth=0.9) and backbone.tube_masking
    assert (cfg.model.neck.embed_dims, cfg.model.neck.num_layers, cfg.model.neck.num_heads) == (384, 4, 6)
    assert cfg.model.head.losses.depth.mode == 'mse'
    assert backbone.pos_embed_layout == '1d' and not backbone.with_cls_token  # VideoMAE's encoder
    assert set(cfg.model.loss_weights) == {'rgb', 'depth', 'contrastive', 'matching'}
    assert cfg.train_dataloader.dataset.type == 'RGBDVideoDataset'
    assert cfg.train_dataloader.dataset.pipeline[0].clip_len == 16
    model = MODELS.build(cfg.model)  # no init_weights: the VideoMAE file is not on this machine
    tokens = model.backbone.token_grid(torch.zeros(1, 3, 16, 224, 224))
    assert tokens == (8, 14, 14)
    assert sum(p.numel() for p in model.backbone.layers.parameters()) == pytest.approx(85e6, rel=0.02)


def test_tiny_video_config_builds():
    cfg = Config.fromfile(str(REPO / 'configs/quickstart/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video.py'))
    assert cfg.model.backbone.arch == dict(embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
    model = MODELS.build(cfg.model)
    model.init_weights()
    inputs = dict(rgb=torch.randn(2, 3, 8, 64, 64), depth=torch.randn(2, 1, 8, 64, 64),
                  valid=dict(depth=torch.ones(2, 1, 8, 64, 64, dtype=torch.bool)))
    losses = model.loss(inputs)
    assert set(losses) == {'loss_rgb', 'loss_depth', 'loss_contrastive', 'loss_matching'}
