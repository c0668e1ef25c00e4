"""tools/data/extract_depth.py on randomly initialised tiny DPT / Depth Anything models and tiny videos."""
import importlib.util
import json
import sys
from pathlib import Path

import m33d_mm  # noqa: F401  (stack fixes before transformers imports torchvision)
import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from m33d_mm.datasets.rgbd_video import RGBDVideoDataset
from m33d_mm.synthetic.video import generate_video_dataset

REPO = Path(__file__).resolve().parents[1]


def _load_tool():
    name = '_test_extract_depth'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / 'data' / 'extract_depth.py')
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


tool = _load_tool()


def save_tiny_model(folder: Path, kind: str) -> Path:
    """A randomly initialised depth model of the real architecture, saved with its image processor."""
    from transformers import (DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTConfig,
                              DPTForDepthEstimation, DPTImageProcessor)
    torch.manual_seed(0)
    heads = dict(neck_hidden_sizes=[8, 16, 16, 16], fusion_hidden_size=16, head_hidden_size=8)
    small = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=32,
                 patch_size=8)
    if kind == 'dpt':
        model = DPTForDepthEstimation(DPTConfig(backbone_out_indices=[0, 1, 2, 3], reassemble_factors=[4, 2, 1, 0.5],
                                                **small, **heads))
        processor = DPTImageProcessor(size=dict(height=32, width=32), keep_aspect_ratio=False)
    else:
        backbone = Dinov2Config(out_features=['stage1', 'stage2', 'stage3', 'stage4'], reshape_hidden_states=False,
                                **small)
        model = DepthAnythingForDepthEstimation(DepthAnythingConfig(backbone_config=backbone, patch_size=8,
                                                                    reassemble_hidden_size=32, **heads))
        # Depth Anything's processor keeps the aspect ratio and rounds to multiples of the patch size
        processor = DPTImageProcessor(size=dict(height=32, width=32), keep_aspect_ratio=True, ensure_multiple_of=8)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp('extract_videos')
    generate_video_dataset(root, videos_per_class=1, val_per_class=0, num_frames=6, height=32, width=40, seed=1)
    return root


def write_list(path: Path, lines):
    path.write_text(''.join(f'{line}\n' for line in lines))
    return path


@pytest.mark.parametrize('kind', ['dpt', 'depth_anything'])
def test_extracts_depth_the_dataset_can_read(kind, videos, tmp_path, capsys):
    model_dir = save_tiny_model(tmp_path / kind, kind)
    video_list = write_list(tmp_path / 'videos.txt', ['videos/orbit/v_orbit_000.mp4 2',
                                                     'videos/static/v_static_000.mp4 4'])
    out_root, out_list = tmp_path / 'depth', tmp_path / 'rgbd_train.txt'
    rc = tool.main([str(model_dir), str(video_list), '--rgb-root', str(videos), '--out-root', str(out_root),
                    '--out-list', str(out_list), '--batch-size', '4', '--device', 'cpu'])
    assert rc == 0
    assert '2 videos written (12 frames), 0 already complete, 0 failed; prediction=inverse' in capsys.readouterr().out
    folder = out_root / 'videos/orbit/v_orbit_000'
    pngs = sorted(folder.glob('*.png'))
    assert [p.name for p in pngs] == [f'{i:06d}.png' for i in range(6)]
    depth = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (32, 40)
    assert depth.min() >= 500 and depth.max() <= 10000  # [near, far] = [0.5, 10] m in millimetres
    meta = json.loads((folder / 'depth_meta.json').read_text())
    assert meta['depth_scale'] == 1000.0 and meta['num_frames'] == 6 and meta['model_type'] == (
        'dpt' if kind == 'dpt' else 'depth_anything')
    assert out_list.read_text().splitlines() == [
        'videos/orbit/v_orbit_000.mp4 videos/orbit/v_orbit_000 2',
        'videos/static/v_static_000.mp4 videos/static/v_static_000 4']

    init_default_scope('mmpretrain')
    dataset = RGBDVideoDataset(ann_file=str(out_list), data_prefix=dict(rgb=str(videos), depth=str(out_root)),
                               pipeline=[dict(type='LoadRGBDVideoClip', clip_len=4, frame_interval=1),
                                         dict(type='PackRGBDClipInputs')])
    sample = dataset[1]
    assert sample['inputs']['depth'].shape == (1, 4, 32, 40) and int(sample['data_samples'].gt_label) == 4
    assert 0.5 <= float(sample['inputs']['depth'].min()) and float(sample['inputs']['depth'].max()) <= 10


def test_resumes_skipping_complete_videos(videos, tmp_path, capsys):
    model_dir = save_tiny_model(tmp_path / 'dpt', 'dpt')
    video_list = write_list(tmp_path / 'videos.txt', ['videos/orbit/v_orbit_000.mp4', 'videos/bounce/v_bounce_000.mp4',
                                                     'videos/orbit/v_orbit_000.mp4'])
    args = [str(model_dir), str(video_list), '--rgb-root', str(videos), '--out-root', str(tmp_path / 'out'),
            '--out-list', str(tmp_path / 'list.txt'), '--device', 'cpu']
    assert tool.main(args) == 0
    assert '2 videos written' in capsys.readouterr().out  # the duplicate line is done once
    orbit, bounce = tmp_path / 'out/videos/orbit/v_orbit_000', tmp_path / 'out/videos/bounce/v_bounce_000'
    stamp = (orbit / '000003.png').stat().st_mtime_ns

    assert tool.main(args) == 0
    assert '0 videos written (0 frames), 2 already complete' in capsys.readouterr().out
    assert (orbit / '000003.png').stat().st_mtime_ns == stamp

    # an interrupted video: frames written, marker missing -> redone; the finished one is left alone
    (bounce / 'depth_meta.json').unlink()
    (bounce / '000005.png').unlink()
    assert tool.main(args) == 0
    assert '1 videos written (6 frames), 1 already complete' in capsys.readouterr().out
    assert len(list(bounce.glob('*.png'))) == 6 and (orbit / '000003.png').stat().st_mtime_ns == stamp
    assert (tmp_path / 'list.txt').read_text().splitlines() == [
        'videos/orbit/v_orbit_000.mp4 videos/orbit/v_orbit_000', 'videos/bounce/v_bounce_000.mp4 '
        'videos/bounce/v_bounce_000']

    # a broken video is reported, left out of the list, and the exit status says so
    (videos / 'videos/broken.mp4').write_bytes(b'junk' * 64)
    write_list(video_list, ['videos/broken.mp4', 'videos/orbit/v_orbit_000.mp4'])
    assert tool.main(args) == 1
    captured = capsys.readouterr()
    assert '1 failed' in captured.out and 'broken.mp4' in captured.err
    assert (tmp_path / 'list.txt').read_text().splitlines() == ['videos/orbit/v_orbit_000.mp4 videos/orbit/v_orbit_000']


def test_inverse_and_metric_conversions(monkeypatch):
    pred = np.linspace(0, 1, 101, dtype=np.float32).reshape(1, 1, 101).repeat(4, axis=1)
    monkeypatch.setattr(tool, '_PERCENTILE_STRIDE', 1)  # every pixel, so the percentiles are known exactly
    stored, info = tool.to_stored_depth(pred, 'inverse', near=0.5, far=10.0)
    lo, hi = info['inverse_percentiles']
    assert lo == pytest.approx(0.02) and hi == pytest.approx(0.98)
    row = stored[0, 0].astype(int)
    assert row[0] == row[2] == 10000 and row[98] == row[100] == 500  # clipped beyond the percentiles
    unit = (0.5 - 0.02) / (0.98 - 0.02)
    assert row[50] == round(1000 / (0.1 + unit * (2.0 - 0.1)))
    assert np.all(np.diff(row) <= 0)  # larger inverse depth = nearer
    stored, info = tool.to_stored_depth(np.array([[[2.5, -1.0, 70.0]]], np.float32), 'metric', 0.5, 10.0)
    assert stored.tolist() == [[[2500, 0, 65535]]] and 'metric' in info['conversion']


def test_never_downloads_and_rejects_bad_lists(tmp_path, capsys):
    write_list(tmp_path / 'videos.txt', ['a.mp4'])
    rc = tool.main(['depth-anything/Depth-Anything-V2-Small-hf', str(tmp_path / 'videos.txt'),
                    '--out-root', str(tmp_path / 'out')])
    assert rc == 2 and 'never downloads' in capsys.readouterr().err
    write_list(tmp_path / 'bad.txt', ['a.mp4 depth/a 3'])
    with pytest.raises(ValueError, match=r'bad\.txt:1: expected "<rgb video or frame folder> \[<label>\]"'):
        tool.read_input_list(str(tmp_path / 'bad.txt'))
    assert tool.depth_dir_for('Fencing/v_Fencing_g01_c01.avi') == 'Fencing/v_Fencing_g01_c01'
    assert tool.depth_dir_for('case001/rgb/') == 'case001/rgb'
