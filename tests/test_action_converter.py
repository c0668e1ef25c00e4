"""M3D video encoder -> mmaction2's stock VideoMAE VisionTransformer: same features, same logits, errors."""
import importlib.util

import m33d_mm.action  # noqa: F401  (registers RGBDViT in mmaction2)
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import DefaultScope

from m33d_mm.models import RGBDViT

from conftest import REPO, TINY_ARCH

spec = importlib.util.spec_from_file_location('_test_m33d_to_mmaction_vit',
                                              REPO / 'tools' / 'model_converters' / 'm33d_to_mmaction_vit.py')
converter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(converter)

VIDEO = dict(arch=TINY_ARCH, patch_size=8, tubelet_size=2, with_cls_token=False)
FRAMES, SIZE = 4, 32
FINETUNE_BACKBONE = dict(type='RGBDViT', modalities=dict(rgb=3), final_norm=False, out_type='avg_featmap', **VIDEO)


def _randomise(module):
    for param in module.parameters():  # LayerNorms and the k third of the qkv bias included
        torch.nn.init.normal_(param, std=0.2)


@pytest.fixture(scope='module')
def pretrain_checkpoint(tmp_path_factory):
    """A video pre-training checkpoint: RGB + depth tubelet embeddings, final norm, a decoder key."""
    torch.manual_seed(0)
    encoder = RGBDViT(**VIDEO)
    _randomise(encoder)
    state = {f'backbone.{k}': v for k, v in encoder.state_dict().items()}
    state['neck.decoder_embed.weight'] = torch.zeros(4, 4)
    path = tmp_path_factory.mktemp('video_ckpt') / 'm33d_video.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    return path


def _convert(src, dst, *extra):
    return converter.main([str(src), str(dst), '--img-size', str(SIZE), '--num-frames', str(FRAMES),
                           '--num-heads', '2', *extra])


def test_stock_backbone_gives_the_features_of_rgbdvit_and_head(pretrain_checkpoint, tmp_path, capsys):
    dst = tmp_path / 'stock.pth'
    assert _convert(pretrain_checkpoint, dst) == 0
    report = capsys.readouterr().out
    assert 'patch_embed.depth.projection.weight' in report and 'ln1.weight' in report
    assert '1 non-encoder tensors' in report and 'fc_norm: identity' in report
    out = torch.load(dst, map_location='cpu', weights_only=True)
    keys = set(out['state_dict'])
    assert {'blocks.0.attn.q_bias', 'blocks.0.attn.v_bias', 'blocks.1.mlp.layers.0.0.weight',
            'blocks.1.mlp.layers.1.bias', 'patch_embed.projection.weight', 'fc_norm.weight'} <= keys
    assert not any(k.endswith('qkv.bias') for k in keys)
    assert out['state_dict']['pos_embed'].shape == (1, FRAMES // 2 * (SIZE // 8)**2, 32)

    # the stock model loaded the way the converter's docstring says
    with DefaultScope.overwrite_default_scope('mmaction'):
        stock = MODELS.build(dict(out['meta']['backbone_cfg'],
                                  init_cfg=dict(type='Pretrained', checkpoint=str(dst))))
        ours = MODELS.build(dict(FINETUNE_BACKBONE, pretrained=str(pretrain_checkpoint)))
    stock.init_weights()
    ours.init_weights()
    x = torch.randn(2, 3, FRAMES, SIZE, SIZE)
    with torch.no_grad():
        expected = ours.eval()(x)
        got = stock.eval()(x)
    assert got.shape == expected.shape == (2, 32)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('layout', ['stock_head', 'former_mean_pool_norm_head'])
def test_finetuned_recognizer_converts_to_a_stock_recognizer(layout, tmp_path, capsys):
    torch.manual_seed(1)
    with DefaultScope.overwrite_default_scope('mmaction'):
        ours = MODELS.build(dict(type='Recognizer3D', backbone=FINETUNE_BACKBONE,
                                 cls_head=dict(type='TimeSformerHead', num_classes=7, in_channels=32)))
    _randomise(ours)  # the fine-tuned pooled-feature norm (backbone.ln2) too
    state = ours.state_dict()
    if layout == 'former_mean_pool_norm_head':  # that head held the pooled-feature norm as cls_head.fc_norm
        state = {k.replace('backbone.ln2.', 'cls_head.fc_norm.'): v for k, v in state.items()}
    src = tmp_path / 'finetuned.pth'
    torch.save(dict(state_dict=state), src)
    dst = tmp_path / 'stock_recognizer.pth'
    assert _convert(src, dst) == 0
    assert 'fc_norm: fine-tuned' in capsys.readouterr().out
    out = torch.load(dst, map_location='cpu', weights_only=True)
    assert out['meta']['head_cfg'] == dict(type='TimeSformerHead', num_classes=7, in_channels=32)
    with DefaultScope.overwrite_default_scope('mmaction'):
        stock = MODELS.build(dict(type='Recognizer3D', backbone=out['meta']['backbone_cfg'],
                                  cls_head=out['meta']['head_cfg']))
    stock.load_state_dict(out['state_dict'], strict=True)
    x = torch.randn(2, 3, FRAMES, SIZE, SIZE)
    with torch.no_grad():
        expected = ours.eval().cls_head(ours.backbone(x))
        got = stock.eval().cls_head(stock.backbone(x))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def _save(path, state):
    torch.save(dict(state_dict=state), path)
    return path


@pytest.mark.parametrize('case', ['image', 'cls_token', 'missing_layer', 'wrong_model', 'final_norm_head'])
def test_wrong_checkpoints_are_refused_naming_file_and_keys(case, pretrain_checkpoint, tmp_path, capsys):
    src = tmp_path / f'{case}.pth'
    state = torch.load(pretrain_checkpoint, weights_only=True)['state_dict']
    if case == 'image':
        state = {f'backbone.{k}': v for k, v in RGBDViT(arch=TINY_ARCH, patch_size=8).state_dict().items()}
        expected = ['image encoder', 'patch_embed.rgb.projection.weight']
    elif case == 'cls_token':
        encoder = RGBDViT(arch=TINY_ARCH, patch_size=8, tubelet_size=2)  # with_cls_token=True
        state = {f'backbone.{k}': v for k, v in encoder.state_dict().items()}
        expected = ['cls_token']
    elif case == 'missing_layer':
        state = {k: v for k, v in state.items() if not k.startswith('backbone.layers.1.attn.')}
        expected = ['layers.1.attn.']
    elif case == 'wrong_model':
        state = {'conv1.weight': torch.zeros(8, 3, 7, 7), 'fc.weight': torch.zeros(10, 8)}
        expected = ['unrecognised checkpoint', 'conv1.weight']
    else:
        state = dict(state, **{'cls_head.fc_cls.weight': torch.zeros(3, 32), 'cls_head.fc_cls.bias': torch.zeros(3)})
        expected = ['final_norm=True', 'ln1.weight']
    assert _convert(_save(src, state), tmp_path / 'out.pth') == 1
    err = capsys.readouterr().err
    assert str(src) in err, err
    for text in expected:
        assert text in err, err
    assert not (tmp_path / 'out.pth').exists()


def test_missing_file_and_non_square_size(pretrain_checkpoint, tmp_path, capsys):
    assert converter.main([str(tmp_path / 'nope.pth'), str(tmp_path / 'o.pth')]) == 1
    assert 'nope.pth does not exist' in capsys.readouterr().err
    assert converter.main([str(pretrain_checkpoint), str(tmp_path / 'o.pth'), '--img-size', '32', '48']) == 1
    assert 'square' in capsys.readouterr().err


def test_load_from_a_recognizer_of_the_former_head_layout_says_how_to_rename(tmp_path):
    from m33d_mm.models.checkpoint import CheckpointMismatchError, check_model_checkpoint
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(dict(type='Recognizer3D', backbone=FINETUNE_BACKBONE,
                                  cls_head=dict(type='TimeSformerHead', num_classes=7, in_channels=32)))
    state = {k.replace('backbone.ln2.', 'cls_head.fc_norm.'): v for k, v in model.state_dict().items()}
    path = _save(tmp_path / 'former.pth', state)
    with pytest.raises(CheckpointMismatchError, match=r'MeanPoolNormHead.*cls_head\.fc_norm\.\* to backbone\.ln2'):
        check_model_checkpoint(model, str(path))
    check_model_checkpoint(model, str(_save(tmp_path / 'current.pth', model.state_dict())))
