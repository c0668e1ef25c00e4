"""tools/train.py runs the tiny video pre-training config on synthetic RGB-D videos, checkpoints and learns."""
import json
import os
import subprocess
import sys
from pathlib import Path

import m33d_mm  # noqa: F401  (stack fixes first)
import torch

from m33d_mm.synthetic.video import generate_video_dataset
from m33d_mm.models import RGBDViT
from m33d_mm.models.checkpoint import load_pretrained

REPO = Path(__file__).resolve().parents[1]
CONFIG = 'configs/quickstart/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video.py'


def test_tiny_video_pretraining_writes_a_checkpoint_and_lowers_the_loss(tmp_path):
    data = tmp_path / 'videos'
    generate_video_dataset(data, videos_per_class=3, val_per_class=1, num_frames=16, height=64, width=80)
    work = tmp_path / 'work'
    options = [f'train_dataloader.dataset.data_root={data}', 'train_dataloader.batch_size=4',
               'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
               'train_cfg.max_epochs=5', 'default_hooks.logger.interval=1']
    proc = subprocess.run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options'] +
                          options, cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED='1'), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    assert (work / 'epoch_5.pth').is_file()
    scalars = sorted(work.glob('*/vis_data/scalars.json'))
    rows = [json.loads(line) for line in scalars[-1].read_text().splitlines()]
    rows = [row for row in rows if 'loss' in row]
    assert len(rows) == 15  # 10 training videos, batches of 4, 5 epochs
    for key in ('loss_rgb', 'loss_depth', 'loss_contrastive', 'loss_matching'):
        assert all(torch.isfinite(torch.tensor(row[key])) for row in rows), key
    # logged values are running means over the last 10 iterations (mmengine's log processor)
    first, last = rows[0]['loss'], rows[-1]['loss']
    assert last < first - 0.3, [round(row['loss'], 3) for row in rows]
    for key in ('loss_rgb', 'loss_contrastive'):
        assert rows[-1][key] < rows[0][key] - 0.1, (key, [round(row[key], 3) for row in rows])

    # the encoder of the run loads back for downstream use (tubelet kernels for both modalities)
    vit = RGBDViT(arch=dict(embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384), patch_size=8,
                  tubelet_size=2, with_cls_token=False)
    report = load_pretrained(vit, str(work))
    assert report['format'] == 'm33d'
    assert vit.patch_embed['depth'].projection.weight.shape == (96, 1, 2, 8, 8)
    assert vit(torch.randn(1, 3, 8, 64, 64))[0].shape == (1, 96, 4, 8, 8)
