"""Segmentation fine-tuning in mmseg: ConvNeXt adapter head, datasets and label loading, layer-wise lr decay,
configs."""
import importlib

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, MODELS
from mmseg.structures import SegDataSample

import m33d_mm.segmentation  # noqa: F401
from m33d_mm.datasets.transforms.rgbd import RGBDDataError
from m33d_mm.models import RGBDViT
from m33d_mm.segmentation import ConvNeXtAdapterHead, select_subset

from conftest import REPO, TINY_ARCH


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Build in mmseg's scope, as a runner of these configs does, without leaking it to other test modules."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield

LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadNYU40Annotations')]


def test_rgbd_vit_is_the_same_class_in_mmseg():
    assert MODELS.get('RGBDViT') is RGBDViT


# ------------------------------------------------------------------------------------------------------ head

def test_convnext_adapter_head_shape_and_upsampling():
    head = ConvNeXtAdapterHead(in_channels=32, channels=16, num_blocks=2, num_classes=7)
    head.init_weights()
    logits = head((torch.randn(2, 32, 3, 5), ))
    # 4 x 4 pixels per token: 1/4 resolution of a 16-pixel-patch input, non-square grid kept
    assert logits.shape == (2, 7, 12, 20)
    assert head.proj.out_features == 16 * 16
    assert len(head.blocks) == 2
    pred = head.predict_by_feat(logits, [dict(img_shape=(48, 80), pad_shape=(48, 80))])
    assert pred.shape == (2, 7, 48, 80)


def test_convnext_adapter_head_loss_ignores_255():
    torch.manual_seed(0)
    head = ConvNeXtAdapterHead(
        in_channels=32, channels=16, num_blocks=1, num_classes=5,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True))
    head.init_weights()
    logits = head((torch.randn(1, 32, 2, 2), ))  # (1, 5, 8, 8) = label size, so no resize
    label = torch.full((1, 8, 8), 255, dtype=torch.long)
    label[0, :2, :3] = torch.tensor([[0, 1, 4], [2, 3, 3]])
    sample = SegDataSample(gt_sem_seg=PixelData(data=label))
    losses = head.loss_by_feat(logits, [sample])
    expected = F.cross_entropy(logits[:, :, :2, :3], label[:, :2, :3])
    assert torch.allclose(losses['loss_ce'], expected, atol=1e-6)
    # changing logits at ignored pixels changes nothing
    other = logits.clone()
    other[:, :, 4:] += 10.0
    assert torch.allclose(head.loss_by_feat(other, [sample])['loss_ce'], expected, atol=1e-6)


def test_segmentor_end_to_end_loss_and_predict():
    model = MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1], size=(32, 48),
                               test_cfg=dict(size_divisor=8)),
        backbone=dict(type='RGBDViT', arch=TINY_ARCH, modalities=dict(rgb=3), patch_size=8, out_indices=(1, )),
        decode_head=dict(type='ConvNeXtAdapterHead', in_channels=32, channels=8, num_blocks=1, num_classes=4,
                         upsample=2),
        test_cfg=ConfigDict(mode='whole')))
    model.init_weights()
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 4, (1, 32, 48))),
                             metainfo=dict(img_shape=(32, 48), ori_shape=(32, 48))) for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=[torch.rand(3, 32, 48) * 255] * 2, data_samples=samples), True)
    losses = model.loss(**data)
    assert losses['decode.loss_ce'] > 0
    test_samples = [SegDataSample(metainfo=dict(ori_shape=(30, 45), img_shape=(30, 45)))]
    data = model.data_preprocessor(dict(inputs=[torch.rand(3, 30, 45) * 255], data_samples=test_samples))
    pred = model.predict(**data)[0]
    assert pred.pred_sem_seg.data.shape == (1, 30, 45)


# --------------------------------------------------------------------------------------------------- datasets

def _write_image(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def _image(h=4, w=8):
    return np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)


# NYU40 ids and the ScanNet20 / NYU40 train ids they must become
NYU40_IDS = np.array([[0, 1, 2, 13, 39, 40, 22, 36]], dtype=np.uint8).repeat(4, axis=0)
SCANNET20_IDS = [255, 0, 1, 255, 19, 255, 255, 18]
NYU40_TRAIN_IDS = [255, 0, 1, 12, 38, 39, 21, 35]


def make_scannet(root, frames=(0, ), label=NYU40_IDS, scene='scene0000_00'):
    for i in frames:
        _write_image(root / scene / 'color' / f'{i:06d}.jpg', _image())
        _write_image(root / scene / 'label' / f'{i:06d}.png', label)
    return root


def make_nyuv2(root, stems=('0001', ), label=NYU40_IDS, split='train'):
    for stem in stems:
        _write_image(root / split / 'rgb' / f'{stem}.png', _image())
        _write_image(root / split / 'label' / f'{stem}.png', label)
        _write_image(root / split / 'depth' / f'{stem}.png', np.full((4, 8), 2500, np.uint16))
    (root / f'{split}.txt').write_text('\n'.join(stems) + '\n')
    return root


def test_scannet_labels_map_to_20_classes(tmp_path):
    root = make_scannet(tmp_path)
    dataset = DATASETS.build(dict(type='ScanNetSegDataset', data_root=str(root), pipeline=LOAD))
    assert len(dataset) == 1 and len(dataset.metainfo['classes']) == 20
    assert dataset[0]['gt_seg_map'][0].tolist() == SCANNET20_IDS


def test_nyuv2_labels_map_to_40_classes(tmp_path):
    root = make_nyuv2(tmp_path)
    dataset = DATASETS.build(dict(type='NYUv2SegDataset', data_root=str(root), split='train', pipeline=LOAD))
    assert len(dataset.metainfo['classes']) == 40
    assert dataset[0]['gt_seg_map'][0].tolist() == NYU40_TRAIN_IDS


def test_class_subset_through_mmseg_label_map(tmp_path):
    root = make_scannet(tmp_path)
    dataset = DATASETS.build(dict(type='ScanNetSegDataset', data_root=str(root), pipeline=LOAD,
                                  metainfo=dict(classes=('floor', 'otherfurniture'))))
    assert dataset[0]['gt_seg_map'][0].tolist() == [255, 255, 0, 255, 1, 255, 255, 255]


def test_label_ids_above_40_name_the_file(tmp_path):
    bad = NYU40_IDS.copy()
    bad[0, 0] = 41
    root = make_scannet(tmp_path, label=bad)
    dataset = DATASETS.build(dict(type='ScanNetSegDataset', data_root=str(root), pipeline=LOAD))
    with pytest.raises(RGBDDataError, match=r'000000\.png.*41'):
        dataset[0]


def test_raw_scannet_ids_in_uint16_labels_are_rejected(tmp_path):
    root = make_nyuv2(tmp_path, label=np.full((4, 8), 1163, np.uint16))
    dataset = DATASETS.build(dict(type='NYUv2SegDataset', data_root=str(root), pipeline=LOAD))
    with pytest.raises(RGBDDataError, match='1163.*scannet_labels.py'):
        dataset[0]


def test_label_size_mismatch_names_both_files(tmp_path):
    root = make_scannet(tmp_path, label=NYU40_IDS[:, :7])
    dataset = DATASETS.build(dict(type='ScanNetSegDataset', data_root=str(root), pipeline=LOAD))
    with pytest.raises(RGBDDataError, match=r'label/000000\.png is 4x7 .*color/000000\.jpg is 4x8'):
        dataset[0]


def test_missing_label_file_is_named(tmp_path):
    root = make_scannet(tmp_path, frames=(0, 1))
    (root / 'scene0000_00' / 'label' / '000001.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'label/000001\.png'):
        DATASETS.build(dict(type='ScanNetSegDataset', data_root=str(root)))


def test_scannet_split_file_and_frame_order(synthetic_root):
    dataset = DATASETS.build(dict(type='ScanNetSegDataset', data_root=str(synthetic_root),
                                  split_file='splits/val.txt'))
    val_scenes = (synthetic_root / 'splits' / 'val.txt').read_text().split()
    ids = [dataset.get_data_info(i)['sample_id'] for i in range(len(dataset))]
    assert ids == [f'{val_scenes[0]}/{i:06d}' for i in range(4)]


def test_data_fraction_is_deterministic_and_nested():
    data = [dict(sample_id=str(i)) for i in range(20)]
    half = select_subset(data, 0.5, data_seed=3)
    assert half == select_subset(data, 0.5, data_seed=3)
    assert len(half) == 10 and [int(d['sample_id']) for d in half] == sorted(int(d['sample_id']) for d in half)
    fifth = select_subset(data, 0.2, data_seed=3)
    assert len(fifth) == 4 and all(d in half for d in fifth)
    assert select_subset(data, 0.5, data_seed=4) != half
    assert len(select_subset(data, 0.01)) == 1
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match='data_fraction'):
            select_subset(data, bad)


def test_dataset_low_data_options(tmp_path):
    root = make_scannet(tmp_path, frames=range(10))
    kwargs = dict(type='ScanNetSegDataset', data_root=str(root), data_seed=1)
    subset = DATASETS.build(dict(kwargs, data_fraction=0.3))
    again = DATASETS.build(dict(kwargs, data_fraction=0.3))
    ids = [subset.get_data_info(i)['sample_id'] for i in range(len(subset))]
    assert len(ids) == 3 and ids == [again.get_data_info(i)['sample_id'] for i in range(3)]
    (root / 'subset.txt').write_text('# two frames\nscene0000_00/000002\nscene0000_00/000007\n')
    listed = DATASETS.build(dict(kwargs, split_subset_file='subset.txt'))
    assert [listed.get_data_info(i)['sample_id'] for i in range(2)] == ['scene0000_00/000002',
                                                                         'scene0000_00/000007']
    (root / 'bad.txt').write_text('scene0000_00/000099\n')
    with pytest.raises(ValueError, match=r'bad\.txt.*000099'):
        DATASETS.build(dict(kwargs, split_subset_file='bad.txt'))
    with pytest.raises(ValueError, match='not both'):
        DATASETS.build(dict(kwargs, split_subset_file='subset.txt', data_fraction=0.5))


def test_nyuv2_low_data_and_missing_files(tmp_path):
    root = make_nyuv2(tmp_path, stems=[f'{i:04d}' for i in range(1, 9)])
    dataset = DATASETS.build(dict(type='NYUv2SegDataset', data_root=str(root), data_fraction=0.25))
    assert len(dataset) == 2
    (root / 'train' / 'rgb' / '0003.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'rgb/0003\.png'):
        DATASETS.build(dict(type='NYUv2SegDataset', data_root=str(root)))


def test_depth_datasets_read_millimetre_pngs(tmp_path, synthetic_root):
    load_depth = [dict(type='LoadImageFromFile'), dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3)]
    # the NYUv2 converter's layout through mmseg's stock NYUDataset
    root = make_nyuv2(tmp_path)
    nyu = DATASETS.build(dict(type='NYUDataset', data_root=str(root), img_suffix='.png', test_mode=True,
                              data_prefix=dict(img_path='train/rgb', depth_map_path='train/depth'),
                              pipeline=load_depth))
    assert len(nyu) == 1 and np.allclose(nyu[0]['gt_depth_map'], 2.5)
    scannet = DATASETS.build(dict(type='ScanNetDepthDataset', data_root=str(synthetic_root),
                                  split_file='splits/train.txt', pipeline=load_depth))
    sample = scannet[0]
    raw = cv2.imread(sample['depth_map_path'], cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and np.allclose(sample['gt_depth_map'], raw / 1000.0)


# ------------------------------------------------------------------------------------------- layer-wise decay

def build_optimizer(model, **paramwise):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='RGBDViTLayerDecayOptimizerConstructor',
        optim_wrapper_cfg=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05)),
        paramwise_cfg=paramwise))
    return constructor(model).optimizer


def test_layer_decay_groups_and_scales():
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='RGBDViT', arch=TINY_ARCH, modalities=dict(rgb=3), patch_size=8, out_indices=(1, )),
        decode_head=dict(type='ConvNeXtAdapterHead', in_channels=32, channels=8, num_blocks=1, num_classes=3)))
    optimizer = build_optimizer(model, layer_decay_rate=0.5)
    num_layers = TINY_ARCH['num_layers']
    table = {}
    for group in optimizer.param_groups:
        for name in group['param_names']:
            table[name] = (group['layer_id'], group['lr'], group['weight_decay'])
    assert set(table) == {n for n, _ in model.named_parameters()}
    expected_layer = {
        'backbone.cls_token': 0,
        'backbone.patch_embed.rgb.projection.weight': 0,
        'backbone.layers.0.attn.qkv.weight': 1,
        'backbone.layers.1.ffn.layers.1.bias': 2,
        'backbone.ln1.weight': num_layers + 1,
        'decode_head.proj.weight': num_layers + 1,
        'decode_head.conv_seg.weight': num_layers + 1,
    }
    for name, layer_id in expected_layer.items():
        assert table[name][0] == layer_id, name
        assert table[name][1] == pytest.approx(0.5**(num_layers + 1 - layer_id)), name
    no_decay = ['backbone.cls_token', 'backbone.ln1.weight', 'backbone.layers.1.ffn.layers.1.bias',
                'decode_head.blocks.0.gamma', 'decode_head.conv_seg.bias']
    assert all(table[n][2] == 0.0 for n in no_decay)
    decay = ['backbone.patch_embed.rgb.projection.weight', 'backbone.layers.0.attn.qkv.weight',
             'decode_head.proj.weight']
    assert all(table[n][2] == 0.05 for n in decay)
    # one group per (layer, decay) pair
    assert len(optimizer.param_groups) == len({(v[0], v[2]) for v in table.values()})


def test_layer_decay_rejects_bad_settings():
    with pytest.raises(KeyError, match='layer_decay'):
        build_optimizer(torch.nn.Linear(2, 2), layer_decay=0.75)
    with pytest.raises(ValueError, match='layer_decay_rate'):
        build_optimizer(torch.nn.Linear(2, 2), layer_decay_rate=0.0)
    with pytest.raises(TypeError, match='get_layer_depth'):
        build_optimizer(torch.nn.Linear(2, 2), layer_decay_rate=0.75)


# ------------------------------------------------------------------------------------------------- configs

CONFIGS = {
    'm33d/convnext-adapter_vit-base-p16_m33d-pre_1xb8-40k_scannet-240x320.py':
        ('EncoderDecoder', 'ConvNeXtAdapterHead', 20),
    'm33d/convnext-adapter_vit-base-p16_m33d-pre_1xb8-20k_nyuv2-640x640.py':
        ('EncoderDecoder', 'ConvNeXtAdapterHead', 40),
    'm33d/dpt_vit-base-p16_m33d-pre_1xb16-20k_nyuv2-256x256.py': ('DepthEstimator', 'DPTDepthHead', 1),
    'm33d/upernet_vit-base-p16_m33d-pre_8xb2-80k_ade20k-512x512.py': ('EncoderDecoder', 'UPerHead', 150),
    'quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py':
        ('EncoderDecoder', 'ConvNeXtAdapterHead', 20),
    'quickstart/dpt_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py': ('DepthEstimator', 'DPTDepthHead', 1),
}


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_builds(name):
    cfg = Config.fromfile(str(REPO / 'configs' / name))
    assert cfg.custom_imports.imports == ['m33d_mm.segmentation']
    for module in cfg.custom_imports.imports:
        importlib.import_module(module)
    segmentor, head, num_classes = CONFIGS[name]
    assert cfg.model.type == segmentor and cfg.model.decode_head.type == head
    assert cfg.model.backbone.type == 'RGBDViT'
    expected = ('m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd' if name.startswith('quickstart') else
                'm33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd')
    assert cfg.model.backbone.pretrained == f'work_dirs/{expected}'
    cfg.model.backbone.pretrained = None  # build only: no weights here
    model = MODELS.build(cfg.model)
    assert isinstance(model.backbone, RGBDViT)
    assert model.decode_head.num_classes == num_classes
    if name.startswith('m33d/vitb'):
        assert model.backbone.embed_dims == 768 and model.backbone.num_layers == 12
        assert cfg.optim_wrapper.constructor == 'RGBDViTLayerDecayOptimizerConstructor'
        assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
        assert cfg.optim_wrapper.optimizer.lr == 1e-4
        assert cfg.model.backbone.drop_path_rate == 0.1
    if 'depth' in name:
        assert cfg.val_evaluator.type == 'DepthMetric' and 'depth_metrics' not in cfg.val_evaluator
        assert model.backbone.out_indices == ([2, 5, 8, 11] if name.startswith('m33d') else [0, 1, 2, 3])
