"""Initialisation from MAE-format checkpoints, the converter tool, and checkpoint errors."""
import re

import pytest
import torch

from m33d_mm.models import RGBDViT
from m33d_mm.models.checkpoint import CheckpointMismatchError, load_pretrained
from m33d_mm.models.utils import sincos_pos_embed

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TIMM_NAMES = [
    (r'^patch_embed\.rgb\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
]


def reference_encoder(**kwargs):
    torch.manual_seed(0)
    vit = RGBDViT(arch=TINY, patch_size=8, modalities=dict(rgb=3), **kwargs)
    vit.init_weights()
    for p in vit.parameters():  # make every tensor distinctive
        p.data.add_(torch.randn_like(p) * 0.1)
    return vit


def official_mae_checkpoint(vit):
    """The reference encoder in the official MAE release layout, with decoder keys as the release has."""
    model = {}
    for key, value in vit.state_dict().items():
        if key == 'pos_layout_code':  # M3D's own record; other checkpoints only have their pos_embed table
            continue
        for pattern, repl in TIMM_NAMES:
            key = re.sub(pattern, repl, key)
        model[key] = value.clone()
    # the release's fixed table: column part first, with a zero class-token slot
    model['pos_embed'] = torch.cat([torch.zeros(1, 32), sincos_pos_embed((4, 4), 32, layout='wh')])[None]
    model['decoder_embed.weight'] = torch.zeros(16, 32)
    model['mask_token'] = torch.zeros(1, 1, 16)
    return dict(model=model)


def mmpretrain_mae_checkpoint(vit):
    sd = {('backbone.' + k).replace('patch_embed.rgb.projection', 'patch_embed.projection'): v.clone()
          for k, v in vit.state_dict().items() if k != 'pos_layout_code'}
    sd['backbone.pos_embed'] = torch.cat([torch.zeros(1, 32), sincos_pos_embed((4, 4), 32, layout='hw')])[None]
    sd['neck.decoder_embed.weight'] = torch.zeros(16, 32)
    return dict(state_dict=sd, meta=dict(epoch=300))


def check_loaded(target, ref):
    for key, value in ref.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    rgb_w = ref.patch_embed['rgb'].projection.weight
    assert torch.allclose(target.patch_embed['depth'].projection.weight, rgb_w.mean(1, keepdim=True))
    x = torch.randn(1, 3, 16, 24)
    assert torch.allclose(target(x)[0], ref(x)[0], atol=1e-6)


@pytest.mark.parametrize('make,layout', [(official_mae_checkpoint, 'wh'), (mmpretrain_mae_checkpoint, 'hw')])
def test_pretrained_from_mae_formats(tmp_path, make, layout):
    ref = reference_encoder(pos_embed_layout=layout)
    path = tmp_path / 'mae.pth'
    torch.save(make(ref), path)
    vit = RGBDViT(arch=TINY, patch_size=8, pretrained=str(path))
    vit.init_weights()
    # the encoder keeps the position table the weights were trained with
    assert vit.pos_embed_layout == layout
    check_loaded(vit, ref)


def test_position_layout_travels_with_m33d_checkpoints(tmp_path):
    ref = reference_encoder(pos_embed_layout='wh')
    path = tmp_path / 'm33d.pth'
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in ref.state_dict().items()}), path)
    vit = RGBDViT(arch=TINY, patch_size=8, modalities=dict(rgb=3), pretrained=str(path))
    vit.init_weights()
    assert vit.pos_embed_layout == 'wh'
    assert torch.allclose(vit.pos_embed((2, 3), 'cpu', torch.float32)[0],
                          sincos_pos_embed((2, 3), 32, layout='wh'))


def test_forward_never_reads_the_layout_buffer():
    vit = reference_encoder(pos_embed_layout='wh')
    x = torch.randn(2, 3, 16, 24)
    expected = vit(x)[0]
    # a meta tensor has no value: int() of it raises, so any read in the forward pass (a device-to-host sync per
    # step on a GPU) would fail here
    vit._buffers['pos_layout_code'] = torch.empty((), dtype=torch.long, device='meta')
    with pytest.raises(Exception):
        int(vit.pos_layout_code)
    torch.testing.assert_close(vit(x)[0], expected)
    vit.forward_mim(dict(rgb=x))
    # a state-dict load still sets the layout
    other = RGBDViT(arch=TINY, patch_size=8, modalities=dict(rgb=3))
    assert other.pos_embed_layout == 'hw'
    other.load_state_dict(reference_encoder(pos_embed_layout='1d').state_dict())
    assert other.pos_embed_layout == '1d'


def test_modality_specific_encoders_start_from_copies(tmp_path):
    ref = reference_encoder()
    path = tmp_path / 'mae.pth'
    torch.save(official_mae_checkpoint(ref), path)
    vit = RGBDViT(arch=TINY, patch_size=8, shared_encoder=False, pretrained=str(path))
    vit.init_weights()
    assert torch.equal(vit.modality_layers['depth'][1].ffn.layers[1].weight, ref.layers[1].ffn.layers[1].weight)


def test_videomae_qv_bias_becomes_qkv_bias_with_zero_key_bias(tmp_path):
    ref = reference_encoder()
    model = {}
    for key, value in official_mae_checkpoint(ref)['model'].items():
        if key == 'pos_embed':  # VideoMAE: 1-D sinusoid over 8 frames / 2 x 4 x 4 tubelets, no class slot
            value = sincos_pos_embed((4, 4, 4), 32, layout='1d')[None]
        if key.endswith('attn.qkv.bias'):
            q, _, v = value.chunk(3)
            model['encoder.' + key.replace('qkv.bias', 'q_bias')] = q
            model['encoder.' + key.replace('qkv.bias', 'v_bias')] = v
        elif key == 'patch_embed.proj.weight':
            model['encoder.' + key] = value[:, :, None].repeat(1, 1, 2, 1, 1) / 2
        else:
            model['encoder.' + key] = value
    path = tmp_path / 'videomae.pth'
    torch.save(dict(model=model), path)
    vit = RGBDViT(arch=TINY, patch_size=8, tubelet_size=2, modalities=dict(rgb=3), pretrained=str(path))
    vit.init_weights()
    assert vit.pos_embed_layout == '1d'
    bias = vit.layers[0].attn.qkv.bias
    assert torch.equal(bias[32:64], torch.zeros(32))
    assert torch.equal(bias[:32], ref.layers[0].attn.qkv.bias[:32])
    # the VideoMAE tubelet kernel was the image kernel spread over 2 frames: a static clip embeds like the image
    img = torch.randn(1, 3, 16, 24)
    clip = img[:, :, None].repeat(1, 1, 2, 1, 1)
    clip_tokens, grid = vit.patch_embed['rgb'](clip)
    assert grid == (1, 2, 3)
    assert torch.allclose(clip_tokens, ref.patch_embed['rgb'](img)[0], atol=1e-5)
    # a zero key bias leaves attention unchanged: outputs equal those with the original key bias
    tokens = torch.randn(1, 5, 32)
    assert torch.allclose(vit.layers[0].attn(tokens), ref.layers[0].attn(tokens), atol=1e-5)


def test_converter_tool_writes_a_loadable_file(tmp_path, run_tool):
    ref = reference_encoder()
    src, dst = tmp_path / 'mae.pth', tmp_path / 'm33d_init.pth'
    torch.save(official_mae_checkpoint(ref), src)
    proc = run_tool(['tools/model_converters/mae_to_m33d.py', src, dst])
    assert 'timm format, "wh" position table' in proc.stdout and '32 tensors; not used: none' in proc.stdout
    converted = torch.load(dst, weights_only=True)
    assert 'backbone.patch_embed.depth.projection.weight' in converted['state_dict']
    vit = RGBDViT(arch=TINY, patch_size=8, pretrained=str(dst))
    ref = reference_encoder(pos_embed_layout='wh')
    vit.init_weights()
    check_loaded(vit, ref)


def test_wrong_model_checkpoints_raise_errors_naming_keys(tmp_path):
    ref = reference_encoder()
    ckpt = official_mae_checkpoint(ref)
    del ckpt['model']['blocks.1.mlp.fc2.weight']
    path = tmp_path / 'partial.pth'
    torch.save(ckpt, path)
    vit = RGBDViT(arch=TINY, patch_size=8)
    with pytest.raises(CheckpointMismatchError, match=r'partial.pth: encoder weights missing .*layers.1.ffn.layers.1'):
        load_pretrained(vit, str(path))

    wider = RGBDViT(arch=dict(TINY, embed_dims=64), patch_size=8, modalities=dict(rgb=3))
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in wider.state_dict().items()}), path)
    with pytest.raises(CheckpointMismatchError, match=r'"cls_token" has shape \(1, 1, 64\), the model expects'):
        load_pretrained(vit, str(path))

    torch.save(dict(state_dict=dict(conv1=torch.zeros(1))), path)
    with pytest.raises(CheckpointMismatchError, match='unrecognised checkpoint'):
        load_pretrained(vit, str(path))

    with pytest.raises(FileNotFoundError, match='missing.pth does not exist'):
        load_pretrained(vit, str(tmp_path / 'missing.pth'))


class Payload:
    pass


def test_third_party_files_are_not_unpickled(tmp_path):
    path = tmp_path / 'unsafe.pth'
    torch.save(dict(model=dict(x=Payload())), path)
    with pytest.raises(CheckpointMismatchError, match='cannot be loaded as a plain weights file'):
        load_pretrained(RGBDViT(arch=TINY, patch_size=8), str(path))
