"""bf16 autocast vs fp32: loss curves and step time of a short tiny M3D pre-training run.

Runs ``tools/train.py`` twice on the same synthetic data with the same seed, once in fp32 and once with
``--amp`` (bf16 autocast on CPU, fp16 with loss scaling on a GPU), and compares the logged losses iteration by
iteration. Prints a table and writes JSON (and a PNG with ``--plot``):

    python tools/benchmark/amp_loss_curves.py --iters 120 --plot work_dirs/benchmarks/amp_loss_curves.png
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py'
KEYS = ('loss', 'loss_rgb', 'loss_depth')


def run(work_dir, data, iters, amp):
    options = [f'train_dataloader.dataset.data_root={data}', 'model.backbone.pretrained=None',
                      'randomness.seed=0', 'randomness.deterministic=True', 'train_dataloader.num_workers=0',
                      'train_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1',
                      'default_hooks.checkpoint.interval=1000', f'train_cfg.max_epochs={iters}',
                      f'param_scheduler.1.T_max={iters}', f'param_scheduler.1.end={iters}']
    cmd = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir] + (['--amp'] if amp else [])
    log = work_dir + '.log'
    with open(log, 'w') as f:
        proc = subprocess.run(cmd + ['--cfg-options'] + options, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f'{" ".join(cmd)} failed (exit {proc.returncode}); see {log}')
    records = []
    for run_dir in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, run_dir, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                records += [json.loads(line) for line in f if '"loss"' in line]
    return records[:iters]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--iters', type=int, default=120, help='logged training iterations to compare')
    parser.add_argument('--frames', type=int, default=16, help='synthetic frames (one batch of 16 per epoch)')
    parser.add_argument('--out', default='work_dirs/benchmarks/amp_loss_curves.json')
    parser.add_argument('--plot', help='PNG of both curves')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = osp.join(tmp, 'data')
        subprocess.run([sys.executable, 'tools/data/generate_synthetic_rgbd.py', data, '--num-scenes', '2',
                        '--frames-per-scene', str(args.frames // 2), '--val-scenes', '0'], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        # one epoch = one iteration of batch 16 over 16 frames, so --iters epochs give --iters logged losses
        curves = {name: run(osp.join(tmp, name), data, args.iters, amp) for name, amp in (('fp32', False),
                                                                                              ('bf16', True))}
    fp32, bf16 = curves['fp32'], curves['bf16']
    n = min(len(fp32), len(bf16))
    if n == 0:
        raise SystemExit('no losses were logged')
    rows = []
    print('| iter | ' + ' | '.join(f'{k} fp32 | {k} bf16' for k in KEYS) + ' |')
    print('|---|' + '---|---|' * len(KEYS))
    for i in sorted({0, n // 4, n // 2, 3 * n // 4, n - 1}):
        print(f'| {fp32[i]["step"]} | ' + ' | '.join(f'{fp32[i][k]:.4f} | {bf16[i][k]:.4f}' for k in KEYS) + ' |')
    window = max(1, n // 10)
    tail = {k: (sum(r[k] for r in fp32[n - window:n]) / window, sum(r[k] for r in bf16[n - window:n]) / window)
            for k in KEYS}
    gap = max(abs(a[k] - b[k]) / abs(a[k]) for a, b in zip(fp32[:n], bf16[:n]) for k in KEYS)
    time = {name: sorted(r['time'] for r in c[1:n])[(n - 1) // 2] for name, c in curves.items()}
    for k, (a, b) in tail.items():
        rows.append(dict(key=k, fp32_last=a, bf16_last=b, relative_difference=(b - a) / a))
        print(f'{k}: mean of the last {window} iterations fp32 {a:.4f}, bf16 {b:.4f} ({100 * (b - a) / a:+.2f} %)')
    print(f'largest per-iteration relative difference: {100 * gap:.2f} %; '
          f'median step time fp32 {time["fp32"]:.3f} s, bf16 {time["bf16"]:.3f} s')
    os.makedirs(osp.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(dict(args=vars(args), iterations=n, final=rows, max_relative_difference=gap, step_s=time,
                       curves={k: [[r['step'], r['loss']] for r in c[:n]] for k, c in curves.items()}), f, indent=2)
    if args.plot:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for name, c in curves.items():
            ax.plot([r['step'] for r in c[:n]], [r['loss'] for r in c[:n]], label=name, lw=1)
        ax.set_xlabel('iteration')
        ax.set_ylabel('loss (rgb + depth)')
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)


if __name__ == '__main__':
    main()
