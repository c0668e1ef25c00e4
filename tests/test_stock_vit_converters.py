"""M3D -> stock mmseg / mmpretrain VisionTransformer converters: equivalent features, reports, errors."""
import importlib.util

import pytest
import torch
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmseg.registry import MODELS as MMSEG_MODELS

from m33d_mm.models import RGBDViT
from m33d_mm.tools import model_converters as converters

from conftest import REPO, TINY_ARCH

CONVERTERS = REPO / 'tools' / 'model_converters'


def _load(name):
    spec = importlib.util.spec_from_file_location(f'_test_{name}', CONVERTERS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


to_mmseg = _load('m33d_to_mmseg_vit')
to_mmpretrain = _load('m33d_to_mmpretrain_vit')
STOCK = {'mmseg': (to_mmseg, MMSEG_MODELS), 'mmpretrain': (to_mmpretrain, MMPRETRAIN_MODELS)}


def make_checkpoint(directory, pos_embed_layout='hw'):
    """A pre-training-style checkpoint (``backbone.`` keys, RGB + depth embeddings, a decoder tensor) and the
    RGB-only encoder it holds."""
    torch.manual_seed(0)
    encoder = RGBDViT(arch=TINY_ARCH, patch_size=8, pos_embed_layout=pos_embed_layout)
    for param in encoder.parameters():  # random everything, LayerNorms and cls token included
        torch.nn.init.normal_(param, std=0.2)
    state = {f'backbone.{k}': v for k, v in encoder.state_dict().items()}
    state['neck.decoder_embed.weight'] = torch.zeros(4, 4)
    path = directory / f'm33d_{pos_embed_layout}.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    rgb = RGBDViT(arch=TINY_ARCH, patch_size=8, modalities=dict(rgb=3), out_indices=(0, 1))
    rgb.load_state_dict({k: v for k, v in encoder.state_dict().items() if 'depth' not in k})
    return path, rgb.eval()


@pytest.fixture(scope='module')
def m33d_checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp('ckpt'))


@pytest.mark.parametrize('framework', sorted(STOCK))
@pytest.mark.parametrize('img_size, layout', [((32, 48), 'hw'), ((40, 40), 'hw'), ((48, 32), 'wh'),
                                              ((32, 48), '1d')])
def test_stock_vit_gives_the_same_features(framework, img_size, layout, tmp_path, capsys):
    src, rgbd_vit = make_checkpoint(tmp_path, layout)
    module, registry = STOCK[framework]
    dst = tmp_path / 'stock.pth'
    assert module.main([str(src), str(dst), '--img-size', *map(str, img_size), '--num-heads', '2']) == 0
    report = capsys.readouterr().out
    assert 'patch_embed.depth.projection.weight' in report and '1 non-encoder tensors' in report
    out = torch.load(dst, map_location='cpu', weights_only=True)
    assert out['meta']['pos_embed_layout'] == layout
    h, w = img_size[0] // 8, img_size[1] // 8
    assert out['state_dict']['pos_embed'].shape == (1, 1 + h * w, 32)
    assert torch.all(out['state_dict']['pos_embed'][0, 0] == 0)  # M3D gives the class token no position
    # loaded the way the docs tell: mmseg's `pretrained`, mmpretrain's Pretrained init_cfg
    cfg = dict(out['meta']['backbone_cfg'], out_indices=(0, 1))
    if framework == 'mmpretrain':
        cfg.update(out_type='featmap', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    else:
        cfg.update(pretrained=str(dst))
    stock = registry.build(dict(cfg, _scope_=framework))  # whatever scope other tests left behind
    stock.init_weights()
    stock.eval()
    x = torch.randn(2, 3, *img_size)
    with torch.no_grad():
        expected, got = rgbd_vit(x), stock(x)
    assert len(got) == 2
    for e, g in zip(expected, got):
        assert g.shape == e.shape == (2, 32, h, w)
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_mmseg_keys_and_prefix(m33d_checkpoint, tmp_path):
    src, _ = m33d_checkpoint
    dst = tmp_path / 'seg.pth'
    assert to_mmseg.main([str(src), str(dst), '--img-size', '32', '--prefix', 'backbone.']) == 0
    keys = set(torch.load(dst, weights_only=True)['state_dict'])
    for key in ('backbone.layers.0.attn.attn.in_proj_weight', 'backbone.layers.1.attn.attn.out_proj.bias',
                'backbone.patch_embed.projection.weight', 'backbone.layers.0.ffn.layers.0.0.weight',
                'backbone.ln1.weight', 'backbone.cls_token', 'backbone.pos_embed'):
        assert key in keys, key
    assert not any('qkv' in k or '.rgb.' in k or 'depth' in k for k in keys)


def test_wrong_checkpoints_are_clear_errors(tmp_path, capsys):
    random_dict = tmp_path / 'random.pth'
    torch.save({'foo': torch.zeros(3), 'bar.weight': torch.ones(2, 2)}, random_dict)
    assert to_mmseg.main([str(random_dict), str(tmp_path / 'out.pth')]) == 1
    assert 'unrecognised checkpoint' in capsys.readouterr().err
    partial = RGBDViT(arch=TINY_ARCH, patch_size=8).state_dict()
    del partial['layers.1.ffn.layers.1.weight'], partial['ln1.bias']
    torch.save(dict(state_dict=partial), tmp_path / 'partial.pth')
    assert to_mmpretrain.main([str(tmp_path / 'partial.pth'), str(tmp_path / 'out.pth')]) == 1
    err = capsys.readouterr().err
    assert 'partial.pth' in err and 'ln1.bias' in err and 'missing' in err
    assert to_mmpretrain.main([str(tmp_path / 'absent.pth'), str(tmp_path / 'out.pth')]) == 1
    assert 'absent.pth does not exist' in capsys.readouterr().err
    assert not (tmp_path / 'out.pth').exists()


def test_img_size_must_fit_the_patch_grid(m33d_checkpoint, tmp_path, capsys):
    src, _ = m33d_checkpoint
    assert to_mmpretrain.main([str(src), str(tmp_path / 'o.pth'), '--img-size', '30', '48']) == 1
    assert 'multiple of the patch size 8' in capsys.readouterr().err


def test_stock_configs_refuse_incomplete_conversions():
    _, registry = STOCK['mmseg']
    config = dict(arch=dict(TINY_ARCH), patch_size=8, with_cls_token=True)
    stock = registry.build(dict(converters.mmseg_backbone_cfg(config, (16, 16)), _scope_='mmseg'))
    state = {k: v for k, v in stock.state_dict().items() if k != 'layers.0.ln2.weight'}
    with pytest.raises(KeyError, match='layers.0.ln2.weight'):
        converters.check_loads(stock, state, 'mmseg VisionTransformer')
