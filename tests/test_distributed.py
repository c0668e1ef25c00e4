"""tools/dist_train.sh with 2 CPU processes (gloo) trains the same model as 1 process at the same global batch."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def write_config(tmp_path, data_root, batch_per_process):
    # a deterministic pipeline and sampler: the only difference between the runs is how the batch is split
    cfg = tmp_path / f'dist_{batch_per_process}.py'
    cfg.write_text(f"""
_base_ = '{REPO}/configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'
train_pipeline = [
    dict(type='LoadRGBDFromFile'),
    dict(type='RGBDResize', scale=(64, 80)),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(
    batch_size={batch_per_process}, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(data_root='{data_root}', pipeline=train_pipeline))
model = dict(backbone=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)))
train_cfg = dict(max_epochs=2)
param_scheduler = []
# SGD, not Adam: Adam divides by the gradient's running RMS, which turns float noise in gradients that are
# zero in exact arithmetic (the attention key bias) into full-size steps that differ between runs
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='SGD', lr=0.5))
randomness = dict(seed=0, diff_rank_seed=False)
""")
    return cfg


def weights(work_dir, epoch=2):
    ckpt = torch.load(work_dir / f'epoch_{epoch}.pth', map_location='cpu', weights_only=False)
    return ckpt['state_dict']


def test_two_gloo_processes_match_one_process(synthetic_root, tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS='1')
    one = tmp_path / 'one'
    subprocess.run([sys.executable, 'tools/train.py', write_config(tmp_path, synthetic_root, 4), '--work-dir', one],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    two = tmp_path / 'two'
    proc = subprocess.run(['bash', 'tools/dist_train.sh', write_config(tmp_path, synthetic_root, 2), '2',
                           '--work-dir', two], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = next(two.glob('*/*.log')).read_text()
    assert 'world_size: 2' in log or 'Distributed launcher: pytorch' in log
    a, b = weights(one), weights(two)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    # and training did change the weights between the epochs
    before = weights(one, epoch=1)
    assert any(not torch.allclose(before[k], a[k]) for k in a)
