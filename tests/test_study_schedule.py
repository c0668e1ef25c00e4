"""The quick-start pre-training schedules span the run they are used in, whatever its length; the video
fine-tuning schedules warm up, then follow one cosine to the end of their own run."""
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner

CONFIGS = ['configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py',
           'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py',
           'configs/quickstart/mae_vit-micro-p16_1xb16-8e_synthetic-rgb.py',
           'configs/quickstart/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video.py']


class Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs=None, data_samples=None, mode='loss'):
        return dict(loss=(self.w - 1).pow(2).sum())


class RecordLR(Hook):

    def __init__(self):
        self.lrs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])


def lr_curve(config, epochs, tmp_path, iters_per_epoch=4):
    cfg = Config.fromfile(config)
    record = RecordLR()
    runner = Runner(
        model=Toy(), work_dir=str(tmp_path), default_scope='mmengine',
        train_dataloader=dict(dataset=[dict(inputs=0)] * iters_per_epoch, batch_size=1,
                              collate_fn=dict(type='default_collate'),
                              sampler=dict(type=DefaultSampler, shuffle=False)),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type=torch.optim.SGD, lr=1.0)),
        param_scheduler=cfg.param_scheduler, train_cfg=dict(by_epoch=True, max_epochs=epochs),
        custom_hooks=[record], default_hooks=dict(checkpoint=None), log_level='WARNING')
    runner.train()
    return record.lrs


@pytest.mark.parametrize('config', CONFIGS)
@pytest.mark.parametrize('epochs', [10, 40])
def test_cosine_spans_the_run_it_is_used_in(config, epochs, tmp_path):
    """Overriding max_epochs (as a study does) must stretch the cosine, not leave the lr at zero after the
    config's own epoch count."""
    lrs = lr_curve(config, epochs, tmp_path)
    assert len(lrs) == 4 * epochs
    half = lrs[len(lrs) // 2]
    assert 0.4 < half < 0.6, f'lr at half the run is {half:.3f} of the peak'
    assert lrs[-1] < 0.05
    # a cosine over the whole run averages half the peak (warm-up takes a little)
    assert 0.42 < sum(lrs) / len(lrs) < 0.52


VIDEO_FINETUNE = ['configs/m33d/recognizer3d_vit-base-p16_m33d-pre_8xb8-100e_ucf101.py',
                  'configs/m33d/recognizer3d_vit-base-p16_m33d-pre_8xb8-50e_orar-phase.py',
                  'configs/quickstart/recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-rgbd-video.py',
                  'configs/quickstart/recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-phase-video.py']


@pytest.mark.parametrize('config', VIDEO_FINETUNE)
def test_video_finetune_schedule_warms_up_then_follows_one_cosine_to_the_end(config, tmp_path):
    """VideoMAE's schedule: linear warm-up over warmup_epochs, then one cosine that ends with the config's own
    train_cfg.max_epochs (100 for UCF-101, 50 for OR-AR, 30 for the quick starts)."""
    cfg = Config.fromfile(config)
    epochs, iters_per_epoch = cfg.train_cfg.max_epochs, 2
    start = cfg.warmup_epochs * iters_per_epoch
    lrs = lr_curve(config, epochs, tmp_path, iters_per_epoch=iters_per_epoch)
    assert len(lrs) == epochs * iters_per_epoch
    assert lrs[0] < 0.02 and lrs[start] == pytest.approx(1.0)
    cosine, eta = lrs[start:], cfg.param_scheduler[1].eta_min  # eta_min relative to the toy's lr of 1
    expected = [eta + (1 - eta) * (1 + math.cos(math.pi * i / len(cosine))) / 2 for i in range(len(cosine))]
    assert cosine == pytest.approx(expected, abs=1e-5)
