"""A run killed with SIGKILL right after a checkpoint resumes to exactly the losses of an uninterrupted run.

With the loaders the recipes ship (two non-persistent workers), for an epoch-based recipe resumed from an
epoch-end and from a mid-epoch checkpoint, and for an iteration-based one. Stage 2 draws random crops and flips
(numpy) and random masks (torch); the segmentation recipe random resizes, crops, flips and colour changes, so
equal losses need the RNG states restored (``RNGStateHook``) and exactly the trained batches skipped.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from m33d_mm.models.checkpoint import load_checkpoint_file

REPO = Path(__file__).resolve().parents[1]
STAGE2 = REPO / 'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py'
SEG = REPO / 'configs/quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py'
COMMON = ['default_hooks.logger.interval=1', 'log_processor.window_size=1', 'model.backbone.pretrained=None',
          'randomness.seed=0', 'randomness.deterministic=True']
# name: (config, options, number of logged iterations); 12 training frames, batch 4 -> 3 iterations an epoch
RECIPES = {
    'epoch_end': (STAGE2, ['train_cfg.max_epochs=3'], 9),
    'mid_epoch': (STAGE2, ['train_cfg.max_epochs=3', 'default_hooks.checkpoint.by_epoch=False',
                           'default_hooks.checkpoint.interval=2'], 9),
    'iteration_based': (SEG, ['train_cfg.max_iters=6', 'train_cfg.val_interval=6',
                              'default_hooks.checkpoint.interval=2', 'val_dataloader.dataset.data_root={root}'], 6),
}


def train_command(recipe, work_dir, data_root, resume=False):
    config, options, _ = RECIPES[recipe]
    options = [f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=4'] + COMMON + [
        option.format(root=data_root) for option in options]
    command = [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir)]
    if resume:
        command.append('--resume')
    return command + ['--cfg-options'] + options


def start(command, log: Path):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open('w'), stderr=subprocess.STDOUT)


def logged_losses(run_dir: Path):
    rows = [json.loads(line) for line in (run_dir / 'vis_data' / 'scalars.json').read_text().splitlines()]
    return {row['step']: {k: v for k, v in row.items() if 'loss' in k or k == 'lr'} for row in rows
            if 'loss' in row}


@pytest.mark.parametrize('recipe', sorted(RECIPES))
def test_sigkill_after_a_checkpoint_then_resume_reproduces_the_uninterrupted_losses(recipe, synthetic_root,
                                                                                    tmp_path):
    full_dir, crash_dir = tmp_path / 'full', tmp_path / 'crash'
    # Both runs at once: they share nothing but the read-only data.
    full = start(train_command(recipe, full_dir, synthetic_root), tmp_path / 'full.log')
    crash = start(train_command(recipe, crash_dir, synthetic_root), tmp_path / 'crash.log')
    pointer = crash_dir / 'last_checkpoint'
    deadline = time.monotonic() + 300
    while not (pointer.is_file() and pointer.read_text().strip()) and crash.poll() is None:
        assert time.monotonic() < deadline, 'no checkpoint within 300 s'
        time.sleep(0.02)
    crash.send_signal(signal.SIGKILL)
    assert crash.wait() == -signal.SIGKILL, (tmp_path / 'crash.log').read_text()[-3000:]
    checkpoint = crash_dir / pointer.read_text().strip()  # relative to the work dir
    total = RECIPES[recipe][2]
    resumed_from = load_checkpoint_file(str(checkpoint))['meta']['iter']
    assert 0 < resumed_from < total
    if recipe == 'mid_epoch':
        assert resumed_from % 3 != 0, f'checkpoint of iteration {resumed_from} is not mid-epoch'

    resumed = subprocess.run(train_command(recipe, crash_dir, synthetic_root, resume=True), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f'Auto resumed from the latest checkpoint {checkpoint}' in resumed.stdout
    assert f'RNGStateHook: restored the RNG states of iteration {resumed_from}' in resumed.stdout
    assert full.wait(timeout=300) == 0, (tmp_path / 'full.log').read_text()[-3000:]

    expected = logged_losses(next(full_dir.glob('2*')))
    assert sorted(expected) == list(range(1, total + 1))
    resumed_run = max(crash_dir.glob('2*'))  # timestamped run folders sort by start time
    got = logged_losses(resumed_run)
    assert sorted(got) == list(range(resumed_from + 1, total + 1))
    for step, losses in got.items():
        assert losses == expected[step], f'step {step}: resumed {losses}, uninterrupted {expected[step]}'
