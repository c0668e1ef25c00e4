"""RGB-D frame dataset, transforms and preprocessor on files written in the real format."""
import shutil

import cv2
import numpy as np
import pytest
import torch

from m33d_mm.datasets import (LoadRGBDFromFile, PackRGBDInputs, RGBDDataError, RGBDFrameDataset, RGBDRandomFlip,
                              RGBDRandomResizedCrop)
from m33d_mm.models import RGBDDataPreprocessor

PIPELINE = [
    dict(type='LoadRGBDFromFile'),
    dict(type='RGBDRandomResizedCrop', scale=(32, 48), crop_ratio_range=(0.5, 1.0)),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]


def write_pair(root, scene, frame, rgb, depth_mm):
    (root / scene / 'color').mkdir(parents=True, exist_ok=True)
    (root / scene / 'depth').mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / scene / 'color' / f'{frame}.jpg'), rgb[..., ::-1])
    cv2.imwrite(str(root / scene / 'depth' / f'{frame}.png'), depth_mm)


@pytest.fixture
def tiny_export(tmp_path):
    rng = np.random.default_rng(0)
    for scene in ('scene0000_00', 'scene0001_00'):
        for frame in range(6):
            write_pair(tmp_path, scene, frame, rng.integers(0, 255, (24, 32, 3), dtype=np.uint8),
                       rng.integers(500, 4000, (24, 32)).astype(np.uint16))
    (tmp_path / 'splits').mkdir()
    (tmp_path / 'splits' / 'train.txt').write_text('scene0000_00\n# comment\nscene0001_00\n')
    return tmp_path


def test_dataset_lists_frames_with_frame_skip_and_split(tiny_export):
    ds = RGBDFrameDataset(str(tiny_export), split_file='splits/train.txt', frame_skip=4)
    assert len(ds) == 4  # frames 0 and 4 of two scenes
    assert [ds.get_data_info(i)['frame'] for i in range(2)] == ['0', '4']
    assert RGBDFrameDataset(str(tiny_export), frame_skip=1).__len__() == 12


def test_synthetic_export_loads_through_the_scannet_reader(synthetic_root):
    ds = RGBDFrameDataset(str(synthetic_root), split_file='splits/train.txt', frame_skip=1, pipeline=PIPELINE)
    assert len(ds) == 12
    sample = ds[0]
    assert sample['inputs']['rgb'].shape == (3, 32, 48) and sample['inputs']['rgb'].dtype == torch.uint8
    depth = sample['inputs']['depth']
    assert depth.shape == (1, 32, 48) and depth.dtype == torch.float32
    assert 0.1 < depth[depth > 0].median() < 10  # metres
    assert sample['data_samples'].img_path.endswith('.jpg')


def test_paired_crop_and_flip_keep_rgb_and_depth_aligned():
    # encode each pixel's column/row into both modalities; after crop+flip they must still agree
    rows, cols = np.mgrid[0:40, 0:60]
    img = np.stack([rows * 4, cols * 4, np.zeros_like(rows)], -1).astype(np.uint8)
    depth = (rows * 100 + cols + 1).astype(np.float32)
    np.random.seed(3)
    for _ in range(5):
        results = dict(img=img.copy(), depth=depth.copy())
        results = RGBDRandomResizedCrop(scale=(40, 60), crop_ratio_range=(0.3, 0.6),
                                        interpolation='nearest').transform(results)
        results = RGBDRandomFlip(prob=0.5).transform(results)
        d = results['depth']
        assert np.array_equal(results['img'][..., 0] // 4, (d - 1) // 100)
        assert np.array_equal(results['img'][..., 1] // 4, (d - 1) % 100)


def test_depth_is_resized_with_nearest_neighbour():
    depth = np.zeros((40, 60), np.float32)
    depth[:, 30:] = 3.0
    results = RGBDRandomResizedCrop(scale=(17, 23), crop_ratio_range=(1.0, 1.0),
                                    aspect_ratio_range=(1.5, 1.5)).transform(
                                        dict(img=np.zeros((40, 60, 3), np.uint8), depth=depth))
    assert set(np.unique(results['depth']).tolist()) <= {0.0, 3.0}


@pytest.mark.parametrize('case,match', [
    ('missing_depth', 'missing depth for frame .*scene0000_00/color/0.jpg'),
    ('empty_split', 'lists no scenes'),
    ('missing_root', 'does not exist'),
])
def test_dataset_errors_name_the_file(tiny_export, case, match):
    kwargs = dict(frame_skip=1)
    root = tiny_export
    if case == 'missing_depth':
        (tiny_export / 'scene0000_00' / 'depth' / '0.png').unlink()
    elif case == 'empty_split':
        (tiny_export / 'splits' / 'empty.txt').write_text('\n')
        kwargs['split_file'] = 'splits/empty.txt'
    else:
        root = tiny_export / 'nowhere'
    with pytest.raises((FileNotFoundError, ValueError), match=match):
        RGBDFrameDataset(str(root), **kwargs)


@pytest.mark.parametrize('case,match', [
    ('corrupt_jpeg', 'colour image .*0.jpg is empty or corrupt'),
    ('truncated_png', 'depth map .*0.png is empty or corrupt'),
    ('size_mismatch', r'size mismatch: colour .*0.jpg is \(24, 32\) .* depth .*0.png is \(12, 32\)'),
    ('all_invalid', r'depth map .*0.png has 0.0% valid pixels'),
    ('eight_bit', 'is uint8, expected uint16'),
    ('three_channel', '3 channels, expected a single-channel'),
])
def test_loading_errors_name_the_file(tiny_export, case, match):
    color = tiny_export / 'scene0000_00' / 'color' / '0.jpg'
    depth = tiny_export / 'scene0000_00' / 'depth' / '0.png'
    if case == 'corrupt_jpeg':
        color.write_bytes(b'\xff\xd8\xff garbage')
    elif case == 'truncated_png':
        depth.write_bytes(depth.read_bytes()[:40])
    elif case == 'size_mismatch':
        cv2.imwrite(str(depth), np.ones((12, 32), np.uint16))
    elif case == 'all_invalid':
        cv2.imwrite(str(depth), np.zeros((24, 32), np.uint16))
    elif case == 'eight_bit':
        cv2.imwrite(str(depth), np.ones((24, 32), np.uint8))
    else:
        cv2.imwrite(str(depth), np.ones((24, 32, 3), np.uint16))
    with pytest.raises(RGBDDataError, match=match):
        LoadRGBDFromFile().transform(dict(img_path=str(color), depth_path=str(depth)))


def test_preprocessor_normalises_each_modality_with_its_own_statistics():
    rgb = torch.full((3, 8, 8), 128, dtype=torch.uint8)
    depth = torch.linspace(1, 3, 64).view(1, 8, 8).clone()
    depth[0, 0, :4] = 0
    batch = dict(inputs=dict(rgb=[rgb, rgb], depth=[depth, depth * 2]), data_samples=None)
    out = RGBDDataPreprocessor(depth_norm='global', depth_mean=2.0, depth_std=0.5)(batch)['inputs']
    assert out['rgb'].shape == (2, 3, 8, 8)
    assert torch.allclose(out['rgb'][0, 0], torch.full((8, 8), (128 - 123.675) / 58.395))
    assert out['depth'].shape == (2, 1, 8, 8)
    assert out['valid']['depth'].sum() == 2 * 60
    assert torch.all(out['depth'][:, 0, 0, :4] == 0)
    assert torch.allclose(out['depth'][0, 0, -1, -1], torch.tensor((3.0 - 2.0) / 0.5))
    robust = RGBDDataPreprocessor()(batch)['inputs']['depth']
    # per-sample standardisation removes the factor 2 between the two samples
    assert torch.allclose(robust[0], robust[1], atol=1e-4)
    with pytest.raises(ValueError, match='differ in shape'):
        RGBDDataPreprocessor()(dict(inputs=dict(rgb=[rgb, rgb[:, :4]], depth=[depth, depth])))
    with pytest.raises(KeyError, match="lack \\['depth'\\]"):
        RGBDDataPreprocessor()(dict(inputs=dict(rgb=[rgb])))


def test_pack_produces_uint8_rgb_and_metric_depth():
    out = PackRGBDInputs().transform(
        dict(img=np.zeros((4, 6, 3), np.uint8), depth=np.ones((4, 6), np.float32), img_path='a.jpg'))
    assert out['inputs']['rgb'].shape == (3, 4, 6) and out['inputs']['depth'].shape == (1, 4, 6)
    assert out['data_samples'].img_path == 'a.jpg'


def test_dataset_from_copied_synthetic_scene_detects_removed_depth(synthetic_root, tmp_path):
    root = tmp_path / 'copy'
    shutil.copytree(synthetic_root, root)
    victim = sorted((root / 'scene0001_00' / 'depth').iterdir())[2]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=str(victim.name)):
        RGBDFrameDataset(str(root), split_file='splits/train.txt', frame_skip=1)
