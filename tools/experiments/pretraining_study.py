"""A miniature replication: does M3D's RGB-D pre-training beat RGB-only MAE and no pre-training?

Protocol (fixed before any result was seen):

* data: synthetic RGB-D indoor scenes (labels defined by geometry, not colour); pre-training and fine-tuning
  use the train scenes, mIoU is measured on held-out val scenes (whole scenes, so no frame is shared);
* one encoder for every arm: the quick-start ViT (96-d, 4 layers, 3 heads, patch 16), the same number of
  pre-training iterations for every pre-trained arm:
  (a) ``m33d``: stage 1 (contrastive, a quarter of the budget) then stage 2 (masked RGB + depth),
  (b) ``m33d_no_contrastive``: stage 2 for the whole budget,
  (c) ``m33d_no_rgb``: stage 1, then stage 2 with the depth task only,
  (d) ``mae_rgb``: mmpretrain's own MAE on the RGB frames,
  (e) ``scratch``: no pre-training;
* fine-tuning: the quick-start ScanNet-20 segmentation config (ConvNeXt adapter head), the same iterations
  for every run, with 10 % and 100 % of the training frames (subset drawn by the seed), 3 seeds each;
* report mean ± std of val mIoU per arm and label fraction, whatever comes out.

Added after the first results (so not part of the fixed protocol, and reported apart): arm
``m33d_batch_negatives`` is (a) with stage 1's InfoNCE drawing its negatives from every depth map of the batch
(``PatchInfoNCELoss(negatives='batch')``), the remedy for the position shortcut that docs/results.md describes.

Everything runs through ``tools/train.py`` subprocesses, as a user would. From nothing:

    python tools/experiments/pretraining_study.py --out work_dirs/study --write-docs

``--quick`` shrinks data, iterations and seeds to a smoke run (used by the test suite). The study resumes: a
pre-training whose final checkpoint exists and a fine-tuning already in ``results.json`` (same setup) are
reused, so ``--seeds 1 2`` after ``--seeds 0`` adds seeds and the table covers them all.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAGE1 = 'configs/quickstart/m33d_tiny_synthetic_stage1.py'
STAGE2 = 'configs/quickstart/m33d_tiny_synthetic_stage2.py'
MAE = 'configs/quickstart/mae_tiny_synthetic_rgb.py'
SEG = 'configs/quickstart/m33d_tiny_synthetic_seg.py'
ARMS = ('m33d', 'm33d_no_contrastive', 'm33d_no_rgb', 'mae_rgb', 'scratch')
POST_HOC_ARMS = ('m33d_batch_negatives', )

FULL = dict(num_scenes=24, frames=16, val_scenes=6, pretrain_epochs=40, finetune_iters=300, seeds=(0, 1, 2),
            fractions=(0.1, 1.0))
QUICK = dict(num_scenes=3, frames=4, val_scenes=1, pretrain_epochs=2, finetune_iters=4, seeds=(0, ),
             fractions=(1.0, ))


def train(config, work_dir, options, log):
    """One tools/train.py run; returns its wall time. Output goes to ``log``."""
    start = time.time()
    os.makedirs(osp.dirname(log), exist_ok=True)
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir, '--cfg-options'] + options
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed (exit {proc.returncode}); see {log}')
    return time.time() - start


def comparable(setup):
    """The part of the setup that must match for earlier results to be reused (seeds may differ), in its JSON
    form (tuples as lists), as ``results.json`` stores it."""
    return json.loads(json.dumps({k: v for k, v in setup.items() if k != 'seeds'}))


def previous_results(path, setup):
    """Results of an earlier run of the same setup, or [] (an earlier run of another setup is set aside)."""
    if not osp.isfile(path):
        return []
    try:
        with open(path) as f:
            saved = json.load(f)
        same = comparable(saved['setup']) == comparable(setup)
        results = saved['results']
    except (ValueError, KeyError, TypeError) as e:
        raise SystemExit(f'{path}: not a results file of this study ({e}); move it away to start afresh')
    if not same:
        os.replace(path, path + '.other-setup')
        print(f'{path} holds another setup; moved to {path}.other-setup, starting afresh', flush=True)
        return []
    print(f'reusing {len(results)} results from {path}', flush=True)
    return results


def last_scalar(work_dir, key):
    values = []
    for run in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                values += [json.loads(line)[key] for line in f if key in json.loads(line)]
    if not values:
        raise RuntimeError(f'no "{key}" logged under {work_dir}')
    return values[-1]


def finished(work_dir, epochs):
    """Whether ``work_dir`` holds the checkpoint of a completed ``epochs``-epoch run."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return False
    with open(marker) as f:
        path = f.read().strip()
    return osp.basename(path) == f'epoch_{epochs}.pth' and osp.isfile(path)


def train_once(config, work_dir, options, epochs):
    if finished(work_dir, epochs):
        print(f'reusing {work_dir} (epoch {epochs} checkpoint present)', flush=True)
        return
    train(config, work_dir, options + [f'train_cfg.max_epochs={epochs}'], work_dir + '.log')


def pretrain(arm, data, out, budget_epochs, loader):
    """Pre-train one arm; returns the work directory holding its final checkpoint (None for scratch)."""
    if arm == 'scratch':
        return None
    common = [f'train_dataloader.dataset.data_root={data}', 'randomness.seed=0'] + loader
    stage1_epochs = max(1, budget_epochs // 4)
    root = osp.join(out, 'pretrain', arm)
    if arm == 'mae_rgb':
        train_once(MAE, root, common, budget_epochs)
        return root
    if arm == 'm33d_no_contrastive':
        train_once(STAGE2, root, common + ['model.backbone.pretrained=None'], budget_epochs)
        return root
    stage1 = root + '_stage1'
    negatives = ['model.contrastive_loss.negatives=batch'] if arm == 'm33d_batch_negatives' else []
    train_once(STAGE1, stage1, common + negatives, stage1_epochs)
    weights = ['model.loss_weights.rgb=0.0'] if arm == 'm33d_no_rgb' else []
    train_once(STAGE2, root, common + weights + [f'model.backbone.pretrained={stage1}'],
               budget_epochs - stage1_epochs)
    return root


def finetune(arm, encoder, data, out, fraction, seed, iters, loader):
    work = osp.join(out, 'finetune', f'{arm}_frac{fraction}_seed{seed}')
    warmup = min(20, iters // 2)
    options = [
        f'train_dataloader.dataset.data_root={data}', f'val_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}', f'train_dataloader.dataset.data_fraction={fraction}',
        f'train_dataloader.dataset.data_seed={seed}', f'randomness.seed={seed}', f'model.backbone.pretrained={encoder}',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}', f'param_scheduler.1.end={iters}',
        f'default_hooks.checkpoint.interval={iters}'
    ] + loader
    seconds = train(SEG, work, options, work + '.log')
    return last_scalar(work, 'mIoU'), seconds


def summarise(results, fractions):
    table = {}
    for arm in ARMS + POST_HOC_ARMS:
        for fraction in fractions:
            values = [r['mIoU'] for r in results if r['arm'] == arm and r['fraction'] == fraction]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                table[(arm, fraction)] = (statistics.mean(values), std, len(values))
    return table


def markdown(table, fractions, setup, command):
    lines = ['| pre-training | ' + ' | '.join(f'mIoU, {int(f * 100)} % labels' for f in fractions) + ' |',
             '|---|' + '---|' * len(fractions)]
    for arm in ARMS + POST_HOC_ARMS:
        if arm in POST_HOC_ARMS and not any(key[0] == arm for key in table):
            continue
        cells = []
        for fraction in fractions:
            if (arm, fraction) in table:
                mean, std, n = table[(arm, fraction)]
                cells.append(f'{mean:.2f} ± {std:.2f} (n={n})')
            else:
                cells.append('–')
        lines.append(f'| {arm}{" (post hoc)" if arm in POST_HOC_ARMS else ""} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + f'\n\nSetup: {json.dumps(setup)}\n\nCommand: `{command}`\n'


def plot(table, fractions, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    arms = [arm for arm in ARMS + POST_HOC_ARMS if any(key[0] == arm for key in table)]
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        xs = [j + i * width for j in range(len(fractions))]
        means = [table.get((arm, f), (0, 0, 0))[0] for f in fractions]
        stds = [table.get((arm, f), (0, 0, 0))[1] for f in fractions]
        ax.bar(xs, means, width, yerr=stds, label=arm + (' (post hoc)' if arm in POST_HOC_ARMS else ''), capsize=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(fractions))])
    ax.set_xticklabels([f'{int(f * 100)} % labels' for f in fractions])
    ax.set_ylabel('val mIoU')
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='work_dirs/study')
    parser.add_argument('--quick', action='store_true', help='smoke run: tiny data, few iterations, one seed')
    parser.add_argument('--arms', nargs='+', default=list(ARMS), choices=ARMS + POST_HOC_ARMS)
    parser.add_argument('--seeds', type=int, nargs='+', help='fine-tuning seeds (default: the protocol\'s)')
    parser.add_argument('--write-docs', action='store_true',
                        help='write docs/results_table.md and docs/results.png')
    args = parser.parse_args()
    setup = dict(QUICK if args.quick else FULL)
    if args.seeds:
        setup['seeds'] = tuple(args.seeds)
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    data = osp.join(out, 'data')
    subprocess.run([sys.executable, 'tools/data/generate_synthetic_rgbd.py', data, '--num-scenes',
                    str(setup['num_scenes']), '--frames-per-scene', str(setup['frames']), '--val-scenes',
                    str(setup['val_scenes']), '--workers', '2'], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    loader = ['train_dataloader.num_workers=1', 'train_dataloader.persistent_workers=False']
    start = time.time()
    results_path = osp.join(out, 'results.json')
    results = previous_results(results_path, setup)
    done = {(r['arm'], r['fraction'], r['seed']) for r in results}
    for arm in args.arms:
        encoder = pretrain(arm, data, out, setup['pretrain_epochs'], loader)
        for fraction in setup['fractions']:
            for seed in setup['seeds']:
                if (arm, fraction, seed) in done:
                    continue
                miou, seconds = finetune(arm, encoder, data, out, fraction, seed, setup['finetune_iters'],
                                         loader + ['val_dataloader.num_workers=1',
                                                   'val_dataloader.persistent_workers=False'])
                results.append(dict(arm=arm, fraction=fraction, seed=seed, mIoU=miou, seconds=seconds))
                print(f'{arm:22s} labels {fraction:4.0%} seed {seed}: mIoU {miou:.2f}  ({seconds:.0f} s)', flush=True)
                with open(results_path, 'w') as f:
                    json.dump(dict(setup=comparable(setup), results=results), f, indent=2)
    table = summarise(results, setup['fractions'])
    setup['seeds'] = sorted({r['seed'] for r in results})
    command = 'python tools/experiments/pretraining_study.py' + (' --quick' if args.quick else '') + ' --write-docs'
    text = markdown(table, setup['fractions'], setup, command)
    print(text)
    print(f'this run took {(time.time() - start) / 60:.1f} min (reused results excluded)')
    with open(osp.join(out, 'results.md'), 'w') as f:
        f.write(text)
    plot(table, setup['fractions'], osp.join(out, 'results.png'))
    if args.write_docs:
        with open(osp.join(REPO, 'docs', 'results_table.md'), 'w') as f:
            f.write(text)
        plot(table, setup['fractions'], osp.join(REPO, 'docs', 'results.png'))


if __name__ == '__main__':
    main()
