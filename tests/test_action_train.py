"""tools/train.py + tools/test.py on the quick-start fine-tuning configs: recognition (top-1) and phases (mAP)."""
import json

import pytest
import torch

from m33d_mm.synthetic.phase import generate_phase_dataset
from m33d_mm.synthetic.video import generate_video_dataset
from m33d_mm.models import RGBDViT

from conftest import TINY_ARCH

TINY = [f'model.backbone.arch.{k}={v}' for k, v in TINY_ARCH.items()] + ['model.cls_head.in_channels=32']


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """A tiny video pre-training checkpoint (RGB + depth embeddings, final norm), as `pretrained` loads it."""
    torch.manual_seed(0)
    encoder = RGBDViT(arch=TINY_ARCH, patch_size=8, tubelet_size=2, with_cls_token=False)
    path = tmp_path_factory.mktemp('pretrain') / 'tiny_video_pretrain.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in encoder.state_dict().items()}), path)
    return path


def _data_options(root):
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')] + [
        f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
        for key in ('batch_size=4', 'num_workers=1', 'persistent_workers=False')]


def _train_and_test(run_tool, config, options, work_dir):
    options = options + ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1']
    run_tool(['tools/train.py', config, '--work-dir', work_dir, '--cfg-options', *options])
    assert (work_dir / 'epoch_1.pth').is_file()
    run_tool(['tools/test.py', config, work_dir / 'epoch_1.pth', '--work-dir', work_dir, '--cfg-options', *options])
    return json.loads((work_dir / 'metrics.json').read_text())


def test_recognition_quickstart_trains_and_reports_top1(run_tool, pretrained, tmp_path):
    root = tmp_path / 'videos'
    generate_video_dataset(root, videos_per_class=2, val_per_class=1, num_frames=16, height=64, width=64)
    options = TINY + _data_options(root) + [f'model.backbone.pretrained={pretrained}']
    metrics = _train_and_test(run_tool,
                              'configs/quickstart/recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-rgbd-video.py',
                              options,
                              tmp_path / 'work')
    assert set(metrics) >= {'acc/top1', 'acc/top5'}
    assert 0.0 <= metrics['acc/top1'] <= metrics['acc/top5'] <= 1.0
    log = ''.join(path.read_text() for path in (tmp_path / 'work').rglob('*.log'))  # train and test logs
    assert 'RGBDViT: loaded' in log and 'layer-wise lr decay' in log


def test_phase_quickstart_trains_and_reports_map(run_tool, tmp_path):
    root = tmp_path / 'phases'
    generate_phase_dataset(root, num_videos=4, val_videos=1, phases_per_video=3, segment_frames=(10, 12),
                           height=32, width=32)
    options = TINY + _data_options(root) + ['model.backbone.pretrained=None']
    metrics = _train_and_test(run_tool,
                              'configs/quickstart/recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-phase-video.py',
                              options,
                              tmp_path / 'work')
    assert set(metrics) == {'acc/mean_average_precision'}
    assert 0.0 < metrics['acc/mean_average_precision'] <= 1.0
