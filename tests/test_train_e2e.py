"""tools/train.py runs both image pre-training stages on synthetic data, checkpoints, resumes and learns."""
import json
from pathlib import Path

import pytest
import torch

STAGE1 = 'configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'
STAGE2 = 'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py'


def common_options(data_root, epochs):
    return [
        f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={epochs}', 'default_hooks.logger.interval=1'
    ]


def logged_losses(work_dir: Path, key='loss'):
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert scalars, f'no scalars.json under {work_dir}'
    rows = [json.loads(line) for path in scalars for line in path.read_text().splitlines()]
    return [(row['step'], row[key]) for row in rows if key in row]


@pytest.fixture(scope='module')
def stage1_dir(synthetic_root, tmp_path_factory):
    from conftest import _run_tool
    work = tmp_path_factory.mktemp('stage1')
    _run_tool(['tools/train.py', STAGE1, '--work-dir', work, '--cfg-options'] + common_options(synthetic_root, 6))
    return work


def test_stage1_checkpoints_and_lowers_the_contrastive_loss(stage1_dir):
    assert (stage1_dir / 'epoch_6.pth').is_file()
    losses = [v for _, v in logged_losses(stage1_dir, 'loss_contrastive')]
    assert len(losses) == 18
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.1, losses


def test_stage2_starts_from_stage1_resumes_and_lowers_the_loss(stage1_dir, synthetic_root, tmp_path, run_tool):
    work = tmp_path / 'stage2'
    base = ['tools/train.py', STAGE2, '--work-dir', work, '--cfg-options',
            f'model.backbone.pretrained={stage1_dir}']
    first = run_tool(base + common_options(synthetic_root, 2))
    assert 'RGBDViT: loaded' in first.stdout and f'from {stage1_dir} (m33d format, "hw" position table)' in first.stdout
    assert (work / 'epoch_2.pth').is_file()

    resumed = run_tool(base + common_options(synthetic_root, 12) + ['--resume'])
    assert 'resumed epoch: 2' in resumed.stdout
    steps = logged_losses(work)
    assert [s for s, _ in steps if s <= 6] == list(range(1, 7))  # first run
    assert [s for s, _ in steps if s > 6][0] == 7  # resumed run goes on where it stopped
    assert (work / 'epoch_12.pth').is_file()
    ckpt = torch.load(work / 'epoch_12.pth', weights_only=False)
    assert ckpt['meta']['epoch'] == 12
    assert 'backbone.patch_embed.depth.projection.weight' in ckpt['state_dict']
    assert 'neck.heads.depth.weight' in ckpt['state_dict']
    rec = [v for _, v in steps]
    assert sum(rec[-6:]) / 6 < sum(rec[:6]) / 6, rec


def test_stage2_encoder_starts_as_stage1_ended(stage1_dir):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(STAGE2)
    cfg.model.backbone.pretrained = str(stage1_dir)
    model = MODELS.build(cfg.model)
    model.init_weights()
    stage1 = torch.load(stage1_dir / 'epoch_6.pth', weights_only=False)['state_dict']
    encoder = {k: v for k, v in stage1.items() if k.startswith('backbone.')}
    assert len(encoder) == len(model.backbone.state_dict())
    for key, value in encoder.items():
        assert torch.equal(model.state_dict()[key], value), key
