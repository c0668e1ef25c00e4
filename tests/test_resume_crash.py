"""A run killed with SIGKILL right after a checkpoint resumes to exactly the losses of an uninterrupted run.

Stage 2 draws random crops and flips (global numpy RNG) and random masks (global torch RNG), so equal losses
after the resume need the RNG states restored (``RNGStateHook``), not only weights, optimiser and schedules.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EPOCHS, ITERS_PER_EPOCH = 3, 3  # 12 training frames, batch 4


def write_config(path: Path) -> Path:
    path.write_text(f"_base_ = '{REPO}/configs/quickstart/m33d_tiny_synthetic_stage2.py'\n"
                    "custom_imports = dict(imports=['m33d_mm.models', 'm33d_mm.datasets', 'm33d_mm.engine'],\n"
                    "                      allow_failed_imports=False)\n"
                    "custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='RNGStateHook')]\n")
    return path


def train_command(config, work_dir, data_root, resume=False):
    options = [
        f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={EPOCHS}', 'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'model.backbone.pretrained=None', 'randomness.seed=0', 'randomness.deterministic=True'
    ]
    command = [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir)]
    if resume:
        command.append('--resume')
    return command + ['--cfg-options'] + options


def start(command, log: Path):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open('w'), stderr=subprocess.STDOUT)


def logged_losses(run_dir: Path):
    rows = [json.loads(line) for line in (run_dir / 'vis_data' / 'scalars.json').read_text().splitlines()]
    return {row['step']: (row['loss'], row['loss_rgb'], row['loss_depth']) for row in rows if 'loss' in row}


def test_sigkill_after_a_checkpoint_then_resume_reproduces_the_uninterrupted_losses(synthetic_root, tmp_path):
    config = write_config(tmp_path / 'stage2_resumable.py')
    full_dir, crash_dir = tmp_path / 'full', tmp_path / 'crash'
    # Both runs at once: they share nothing but the read-only data.
    full = start(train_command(config, full_dir, synthetic_root), tmp_path / 'full.log')
    crash = start(train_command(config, crash_dir, synthetic_root), tmp_path / 'crash.log')
    pointer = crash_dir / 'last_checkpoint'
    deadline = time.monotonic() + 300
    # mmengine writes last_checkpoint after the checkpoint file is complete.
    while not (pointer.is_file() and pointer.read_text().strip()) and crash.poll() is None:
        assert time.monotonic() < deadline, 'no checkpoint within 300 s'
        time.sleep(0.02)
    crash.send_signal(signal.SIGKILL)
    assert crash.wait() == -signal.SIGKILL, (tmp_path / 'crash.log').read_text()[-3000:]
    checkpoint = Path(pointer.read_text().strip())
    assert checkpoint.name == 'epoch_1.pth' and not (crash_dir / f'epoch_{EPOCHS}.pth').exists()

    resumed = subprocess.run(train_command(config, crash_dir, synthetic_root, resume=True), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f'Auto resumed from the latest checkpoint {checkpoint}' in resumed.stdout
    assert 'RNGStateHook: restored the RNG states of iteration 3' in resumed.stdout
    assert full.wait(timeout=300) == 0, (tmp_path / 'full.log').read_text()[-3000:]

    expected = logged_losses(next(full_dir.glob('2*')))
    assert sorted(expected) == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    resumed_run = max(crash_dir.glob('2*'))  # timestamped run folders sort by start time
    got = logged_losses(resumed_run)
    assert sorted(got) == list(range(ITERS_PER_EPOCH + 1, EPOCHS * ITERS_PER_EPOCH + 1))
    for step, losses in got.items():
        assert losses == expected[step], f'step {step}: resumed {losses}, uninterrupted {expected[step]}'
