"""Does RGB-D pre-training put geometry into the RGB encoder? The benchmark study of M3D and its controls.

Protocol (docs/results.md states it, and the validity rule, before any result):

* data: the benchmark scenes of :mod:`m33d_mm.synthetic.benchmark` (every frame its own room, random camera,
  sphere/disc and cube/panel pairs that differ only in 3-D shape), 64x64, patch 8: ``unlabelled`` frames for
  pre-training, a ``labelled`` pool, ``val`` for hyper-parameters and ``test`` for every reported figure;
* one encoder (the quick-start tiny ViT) and one pre-training budget in iterations for every arm, each stage
  with its own warm-up and a cosine ending with the stage (configs/experiments/benchmark_*.py); the sum of
  lr / peak over each arm's iterations is recorded and shown next to its results;
* arms: ``m33d`` (stage 1 for a quarter of the budget, then stage 2), ``m33d_no_contrastive``,
  ``m33d_no_rgb``, ``m33d_dirichlet`` and ``m33d_cross_modal`` (stage 2 with those masking strategies),
  ``mae_rgb`` (mmpretrain's MAE), ``scratch``; positive control ``rgb2depth`` (stage 2 with RGB 50 % / depth
  99 % masked), its twin ``rgb2depth_no_depth`` (the same masks, depth loss off) and the negative control
  ``shuffled_depth`` (``rgb2depth`` with every frame's depth taken from another frame); two pre-training seeds;
* primary evaluation, linear probes of the frozen RGB encoder (last layer, and all layers concatenated) at
  1 / 10 / 100 % of the labelled pool: patch-class mIoU over the six classes with per-class IoU, the accuracy
  within each shape pair, and the RMSE of per-image standardised (relative) patch depth; a position-only
  probe is the floor. Regularisation is chosen on val;
* cross-modal probe of the RGB-D arms: masked-depth loss of the pre-trained model given (a) all RGB and no
  depth, (b) nothing, (c) its training masks;
* secondary evaluation, fine-tuning (ConvNeXt adapter head) at 10 % of the pool: lr chosen per arm on val from
  ``finetune_lrs`` (pre-training seed 0), then every pre-training seed at that lr, mIoU on test; layer-wise lr
  decay for pre-trained arms only.

Every training is a ``tools/train.py`` / ``tools/test.py`` subprocess with ``OMP_NUM_THREADS=1`` (and one
torch thread); ``--jobs`` of them run side by side. All state lives under ``--out``: a job whose result file
exists is not run again, so the study resumes after an interruption and ``--report`` rebuilds the tables from
whatever has finished. From nothing:

    python tools/experiments/benchmark_study.py --out work_dirs/study_v2 --jobs 2
    python tools/experiments/benchmark_study.py --out work_dirs/study_v2 --report --write-docs

``--pilot`` is the reduced protocol (fewer arms, 400 pre-training iterations, no fine-tuning); ``--smoke``
shrinks everything to seconds for the test suite.
"""
import argparse
import json
import os
import os.path as osp
import signal
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAGE1 = 'configs/experiments/benchmark_stage1.py'
STAGE2 = 'configs/experiments/benchmark_stage2.py'
MAE = 'configs/experiments/benchmark_mae.py'
SEG = 'configs/experiments/benchmark_seg.py'

_CONTROL = ['model.backbone.mask_ratio.rgb=0.5', 'model.backbone.mask_ratio.depth=0.99']
# arm -> stages: (config, extra options, share of the pre-training budget); data 'shuffled' pairs each RGB
# frame with another frame's depth
ARMS = {
    'scratch': [],
    'mae_rgb': [(MAE, [], 1.0)],
    'm33d': [(STAGE1, [], 0.25), (STAGE2, [], 0.75)],
    'm33d_no_contrastive': [(STAGE2, [], 1.0)],
    'm33d_no_rgb': [(STAGE1, [], 0.25), (STAGE2, ['model.loss_weights.rgb=0.0'], 0.75)],
    'm33d_dirichlet': [(STAGE1, [], 0.25),
                       (STAGE2, ['model.backbone.masking.type=dirichlet', 'model.backbone.masking.alpha=1.0'], 0.75)],
    'm33d_cross_modal': [(STAGE1, [], 0.25),
                         (STAGE2, ['model.backbone.masking.type=cross_modal', 'model.backbone.masking.hide=depth',
                                   'model.backbone.masking.hide_fraction=0.5'], 0.75)],
    'rgb2depth': [(STAGE2, _CONTROL, 1.0)],
    'rgb2depth_no_depth': [(STAGE2, _CONTROL + ['model.loss_weights.depth=0.0'], 1.0)],
    'shuffled_depth': [(STAGE2, _CONTROL, 1.0)],
}
ROLES = dict(scratch='no pre-training', mae_rgb='RGB-only MAE (mmpretrain)', m33d='M3D, stage 1 + stage 2',
             m33d_no_contrastive='M3D without contrastive stage', m33d_no_rgb='M3D without the RGB task',
             m33d_dirichlet='M3D, Dirichlet masking', m33d_cross_modal='M3D, depth hidden in half the batch',
             rgb2depth='positive control: RGB 50 % -> depth 99 % masked',
             rgb2depth_no_depth='no-depth twin of the control (depth loss off)',
             shuffled_depth='negative control: depth of another frame')

FULL = dict(unlabelled=5000, labelled=800, val=200, test=500, pretrain_iters=1000, batch=64, seeds=(0, 1),
            probe_fractions=(0.01, 0.1, 1.0), finetune_fractions=(0.1, ), finetune_iters=800,
            finetune_lrs=(3e-4, 1e-3, 3e-3), finetune_batch=16, arms=tuple(ARMS), preset='full')
PILOT = dict(FULL, pretrain_iters=400, finetune_fractions=(), preset='pilot',
             arms=('rgb2depth', 'scratch', 'rgb2depth_no_depth', 'm33d_no_contrastive', 'mae_rgb'))
SMOKE = dict(unlabelled=24, labelled=12, val=6, test=6, pretrain_iters=4, batch=4, seeds=(0, ),
             probe_fractions=(0.5, 1.0), finetune_fractions=(1.0, ), finetune_iters=4, finetune_lrs=(1e-3, ),
             finetune_batch=4, arms=('scratch', 'm33d', 'mae_rgb', 'rgb2depth', 'shuffled_depth'), preset='smoke')
SINGLE_THREAD = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1')


def single_thread_env():
    """Environment of every job: one thread each, so two jobs share two cores without oversubscription."""
    return dict(os.environ, **SINGLE_THREAD, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))


def write_json(path, data):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(data, f, indent=2)
    os.replace(path + '.tmp', path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------------------
# jobs: each is a command; its result file marks it done
class Job:

    def __init__(self, name, result, commands, deps=(), log=None, after=None, trained=None):
        self.name, self.result, self.commands, self.deps = name, result, commands, list(deps)
        # trained: the file a finished training leaves, so a run whose bookkeeping was interrupted is not redone
        self.log, self.after, self.trained = log, after, trained

    def done(self):
        return osp.isfile(self.result)


def train_cmd(config, work_dir, options):
    return [sys.executable, 'tools/train.py', config, '--work-dir', work_dir, '--cfg-options'] + options


def logged_values(work_dir, key):
    """``[[value, ...] per run]``: the values of ``key`` in mmengine's scalar log of each run (timestamped
    folder) under a work dir, runs in order."""
    runs = []
    for run in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                runs.append([json.loads(line)[key] for line in f if f'"{key}"' in line])
    return runs


def lr_budget(work_dir):
    """Sum over iterations of lr / peak lr, from the per-iteration log of a run (the last one)."""
    runs = logged_values(work_dir, 'lr')
    lrs = runs[-1] if runs else []
    if not lrs:
        raise RuntimeError(f'no lr logged under {work_dir}')
    return sum(lrs) / max(lrs), len(lrs)


def pretrain_jobs(setup, out, arm, seed):
    """Stages of one arm and seed; the last stage's job records the lr budget of all of them."""
    data = osp.join(out, 'data_shuffled' if arm == 'shuffled_depth' else 'data')
    root = osp.join(out, 'pretrain', f'{arm}_s{seed}')
    jobs, previous, stage_dirs = [], None, []
    budget = setup['pretrain_iters']
    for index, (config, options, share) in enumerate(ARMS[arm]):
        iters = max(2, int(round(budget * share)))
        warmup = max(1, iters // 20)
        work = root if index == len(ARMS[arm]) - 1 else f'{root}_stage{index + 1}'
        opts = [f'train_dataloader.dataset.data_root={data}', f'randomness.seed={seed}',
                f'train_cfg.max_iters={iters}', f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}',
                f'train_dataloader.batch_size={setup["batch"]}'] + options
        if config != MAE:
            opts.append(f'model.backbone.pretrained={previous}' if previous else 'model.backbone.pretrained=None')
        stage_dirs.append(work)
        marker = osp.join(work, 'stage_done.json')
        dirs = list(stage_dirs)

        def finish(marker=marker, work=work, dirs=dirs, last=index == len(ARMS[arm]) - 1):
            write_json(marker, dict(zip(('lr_sum_over_peak', 'iters'), lr_budget(work))))
            if last:
                stages = [read_json(osp.join(d, 'stage_done.json')) for d in dirs]
                write_json(osp.join(root, 'done.json'), dict(
                    lr_sum_over_peak=sum(s['lr_sum_over_peak'] for s in stages),
                    iters=sum(s['iters'] for s in stages), stages=stages))

        result = osp.join(root, 'done.json') if index == len(ARMS[arm]) - 1 else marker
        jobs.append(Job(f'pretrain {arm} seed {seed} stage {index + 1}', result,
                        [train_cmd(config, work, opts)], deps=[jobs[-1]] if jobs else [('data', )],
                        log=work + '.log', after=finish, trained=osp.join(work, f'iter_{iters}.pth')))
        previous = work
    return jobs


def probe_job(setup, out, arm, seed, deps):
    result = osp.join(out, 'probes', f'{arm}_s{seed}.json')
    cmd = [sys.executable, osp.abspath(__file__), '--out', out, '--probe', arm, str(seed)]
    cmd += {'smoke': ['--smoke'], 'pilot': ['--pilot']}.get(setup['preset'], [])
    return Job(f'probe {arm} seed {seed}', result, [cmd], deps=deps, log=result[:-5] + '.log')


def finetune_job(setup, out, arm, seed, fraction, lr, deps):
    name = f'{arm}_s{seed}_f{fraction}_lr{lr:g}'
    work = osp.join(out, 'finetune', name)
    result = osp.join(work, 'result.json')
    data = osp.join(out, 'data')
    iters = setup['finetune_iters']
    warmup = max(1, iters // 20)
    encoder = osp.join(out, 'pretrain', f'{arm}_s{seed}') if arm != 'scratch' else None
    roots = [f'{loader}.dataset.data_root={data}' for loader in ('train_dataloader', 'val_dataloader',
                                                                 'test_dataloader')]
    opts = roots + [
        f'train_dataloader.dataset.data_fraction={fraction}', 'train_dataloader.dataset.data_seed=0',
        f'randomness.seed={seed}', f'model.backbone.pretrained={encoder}', f'optim_wrapper.optimizer.lr={lr}',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}', f'default_hooks.checkpoint.interval={iters}',
        f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}',
        f'train_dataloader.batch_size={setup["finetune_batch"]}']
    if arm == 'scratch':  # layer-wise lr decay is for pre-trained encoders only
        opts.append('optim_wrapper.paramwise_cfg.layer_decay_rate=1.0')
    # tools/test.py writes the metrics to WORK_DIR/metrics.json
    test = [sys.executable, 'tools/test.py', SEG, osp.join(work, f'iter_{iters}.pth'), '--work-dir', work + '_test',
            '--cfg-options'] + roots[2:]

    def finish():
        val = last_val_miou(work)
        test_metrics = read_json(osp.join(work + '_test', 'metrics.json'))
        write_json(result, dict(arm=arm, seed=seed, fraction=fraction, lr=lr, val_mIoU=val,
                                test_mIoU=test_metrics['mIoU'], per_class=per_class_iou(work + '_test')))

    return Job(f'finetune {name}', result, [train_cmd(SEG, work, opts), test], deps=deps, log=work + '.log',
               after=finish)


def last_val_miou(work_dir):
    values = [value for run in logged_values(work_dir, 'mIoU') for value in run]
    if not values:
        raise RuntimeError(f'no val mIoU logged under {work_dir}')
    return values[-1]


def per_class_iou(work_dir):
    """Per-class test IoU of the six benchmark classes, from mmseg's per-class table in the test log."""
    from m33d_mm.datasets.label_maps import SCANNET20_CLASSES
    from m33d_mm.synthetic.benchmark import CLASSES
    names = dict(zip(SCANNET20_CLASSES[:len(CLASSES)], CLASSES))
    found = {}
    for root, _, files in os.walk(work_dir):
        for name in files:
            if name.endswith('.log'):
                with open(osp.join(root, name)) as f:
                    for line in f:
                        cells = [c.strip() for c in line.strip().strip('|').split('|')]
                        if len(cells) == 3 and cells[0] in names:
                            found[names[cells[0]]] = float(cells[1])
    return found


def build_jobs(setup, out, arms):
    jobs = [probe_job(setup, out, 'position_only', 0, [('data', )])]  # the floor, first: it takes a minute
    probe_deps = {}
    # the positive control and scratch first with every seed (the validity rule), then the others seed by seed
    rule = [a for a in ('rgb2depth', 'scratch') if a in arms]
    order = [(a, s) for a in rule for s in setup['seeds']]
    order += [(a, s) for s in setup['seeds'] for a in arms if a not in rule]
    for arm, seed in order:
        stages = pretrain_jobs(setup, out, arm, seed)
        jobs += stages
        probe_deps[(arm, seed)] = stages[-1:] if stages else [('data', )]
        jobs.append(probe_job(setup, out, arm, seed, probe_deps[(arm, seed)]))
    for fraction in setup['finetune_fractions']:
        for arm in arms:
            # lr chosen on val with pre-training seed 0, then every seed at the chosen lr
            first = setup['seeds'][0]
            select = [finetune_job(setup, out, arm, first, fraction, lr, probe_deps[(arm, first)])
                      for lr in setup['finetune_lrs']]
            jobs += select
            for seed in setup['seeds'][1:]:
                jobs.append(LateFinetune(setup, out, arm, seed, fraction, select, probe_deps[(arm, seed)]))
    return jobs


class LateFinetune(Job):
    """A fine-tuning at the lr that the selection runs chose on val (known only once they are done)."""

    def __init__(self, setup, out, arm, seed, fraction, select, deps):
        self.setup, self.out, self.arm, self.seed, self.fraction, self.select = setup, out, arm, seed, fraction, select
        super().__init__(f'finetune {arm} seed {seed} at the chosen lr', osp.join(
            out, 'finetune', f'{arm}_s{seed}_f{fraction}_chosen.json'), [], deps=list(deps) + select)

    def resolve(self):
        best = max(self.select, key=lambda j: read_json(j.result)['val_mIoU'])
        job = finetune_job(self.setup, self.out, self.arm, self.seed, self.fraction, read_json(best.result)['lr'], [])
        inner_after, inner_result, marker = job.after, job.result, self.result
        if job.done():
            job.commands, inner_after = [], None

        def finish():
            if inner_after:
                inner_after()
            write_json(marker, read_json(inner_result))

        job.after, job.result = finish, marker
        return job


def run_jobs(jobs, max_jobs, data_ready, more_jobs_at=None):
    """Runs jobs whose dependencies are done, at most ``max_jobs`` at a time (1 before the time stamp
    ``more_jobs_at``)."""
    pending = [j for j in jobs if not j.done()]
    running = []
    failed = []
    try:
        _run(pending, running, failed, max_jobs, data_ready, more_jobs_at)
    finally:
        # stopped (Ctrl-C, SIGTERM): take the jobs down too, so a restart does not find them still running
        for _, proc, log in running:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
            log.close()
    return failed


def _run(pending, running, failed, max_jobs, data_ready, more_jobs_at):

    def ready(job):
        return all((data_ready() if d == ('data', ) else d.done()) for d in job.deps)

    while pending or running:
        for job, proc, log in list(running):
            if proc.poll() is None:
                continue
            log.close()
            running.remove((job, proc, log))
            if proc.returncode != 0:
                failed.append(job)
                print(f'FAILED {job.name} (exit {proc.returncode}); see {job.log}', flush=True)
                continue
            if job.commands:
                start_next(job, running)
                continue
            if job.after:
                job.after()
            print(f'done   {job.name}', flush=True)
        limit = 1 if more_jobs_at and time.time() < more_jobs_at else max_jobs
        blocked = {j for j in pending if any(d in failed for d in j.deps if d != ('data', ))}
        for job in blocked:
            pending.remove(job)
            failed.append(job)
            print(f'skipped {job.name}: a job it needs failed', flush=True)
        for job in list(pending):
            if len(running) >= limit:
                break
            if ready(job):
                pending.remove(job)
                if isinstance(job, LateFinetune):
                    if job.done():
                        continue
                    job = job.resolve()
                job.commands = list(job.commands)
                if job.trained and osp.isfile(job.trained):
                    job.commands = []  # trained already; only the bookkeeping is left
                print(f'start  {job.name}', flush=True)
                if not start_next(job, running):
                    if job.after:
                        job.after()
                    print(f'done   {job.name}', flush=True)
        if running:
            time.sleep(1.0)
        elif pending and not any(ready(j) for j in pending):
            for job in pending:
                print(f'skipped {job.name}: a job it needs did not finish', flush=True)
            break


def start_next(job, running):
    if not job.commands:
        return False
    cmd = job.commands.pop(0)
    os.makedirs(osp.dirname(job.log), exist_ok=True)
    log = open(job.log, 'a')
    log.write(f'$ {" ".join(cmd)}\n')
    log.flush()
    running.append((job, subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                          env=single_thread_env()), log))
    return True


# ---------------------------------------------------------------------------------------------------------
# data
def prepare_data(setup, out):
    from m33d_mm.synthetic.benchmark import generate_benchmark
    data = osp.join(out, 'data')
    summary = generate_benchmark(data, unlabelled=setup['unlabelled'], labelled=setup['labelled'],
                                 val=setup['val'], test=setup['test'], seed=0)
    state = 'present' if summary['skipped'] else 'written in %.0f s' % summary['seconds']
    print(f'data: {data} ({state})', flush=True)
    shuffled = osp.join(out, 'data_shuffled')
    names = open(osp.join(data, 'splits', 'unlabelled.txt')).read().split()
    marker = osp.join(shuffled, 'done.json')
    if not osp.isfile(marker) or read_json(marker) != dict(frames=len(names)):
        import numpy as np
        import shutil
        if osp.isdir(shuffled):
            shutil.rmtree(shuffled)
        # a derangement: every RGB frame gets the depth of another frame
        order = np.random.default_rng(0).permutation(len(names))
        other = np.roll(order, 1)[np.argsort(order)]
        for name, partner in zip(names, other):
            os.makedirs(osp.join(shuffled, name))
            os.symlink(osp.join(data, name, 'color'), osp.join(shuffled, name, 'color'))
            os.symlink(osp.join(data, names[partner], 'depth'), osp.join(shuffled, name, 'depth'))
        os.makedirs(osp.join(shuffled, 'splits'))
        shutil.copy(osp.join(data, 'splits', 'unlabelled.txt'), osp.join(shuffled, 'splits', 'unlabelled.txt'))
        write_json(marker, dict(frames=len(names)))


# ---------------------------------------------------------------------------------------------------------
# probes (run as their own single-threaded process: --probe ARM SEED)
def patch_targets(rgb, depth, label, patch=8):
    """Normalised RGB (N, 3, H, W), per-patch relative depth (N, n), valid (N, n), majority class (N, n)."""
    import numpy as np
    import torch
    from m33d_mm.synthetic.benchmark import class_index
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    images = torch.from_numpy(((rgb.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2).copy())
    valid = depth > 0
    # relative depth: each image standardised over its valid pixels (what pre-training's depth targets see)
    rel = np.zeros_like(depth)
    for i in range(len(depth)):
        d = depth[i][valid[i]]
        rel[i][valid[i]] = (d - d.mean()) / max(d.std(), 1e-6)
    n, h, w = depth.shape

    def patches(x):
        return x.reshape(n, h // patch, patch, w // patch, patch).transpose(0, 1, 3, 2, 4).reshape(n, -1, patch * patch)

    v, r = patches(valid), patches(rel)
    count = v.sum(-1)
    mean_rel = (r * v).sum(-1) / np.maximum(count, 1)
    classes = patches(class_index(label).astype(np.int64))
    onehot = np.stack([(classes == c).sum(-1) for c in range(6)], -1)
    majority = np.where(onehot.sum(-1) > 0, onehot.argmax(-1), 255)
    return images, torch.from_numpy(mean_rel).float(), torch.from_numpy(count > patch * patch // 4), \
        torch.from_numpy(majority)


def encoder_features(arm, work_dir, images, seed):
    """Frozen RGB features (N*n, C) of the last layer and of all layers, as segmentation builds the encoder."""
    import torch
    from m33d_mm.models import RGBDViT
    torch.manual_seed(seed)  # scratch: the random initialisation of this seed
    encoder = RGBDViT(arch=dict(embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384),
                      modalities=dict(rgb=3), patch_size=8, out_indices=(0, 1, 2, 3), out_type='featmap',
                      drop_path_rate=0.0, pretrained=work_dir)
    encoder.init_weights()
    encoder.eval()
    with torch.no_grad():
        outs = [encoder(images[i:i + 64]) for i in range(0, len(images), 64)]
    layers = [torch.cat([o[k] for o in outs]).flatten(2).transpose(1, 2).flatten(0, 1) for k in range(4)]
    return dict(last=layers[-1], all=torch.cat(layers, 1))


def position_features(num_images, num_patches=64):
    import torch
    return dict(position=torch.eye(num_patches).repeat(num_images, 1))


def benchmark_miou(pred, target, num_classes=6):
    """mIoU over the fixed list of benchmark classes (all present in the test split) and per-class IoU; a
    class predicted but absent from the target does not enter the mean (it is not in the list)."""
    ious = []
    for c in range(num_classes):
        inter = ((pred == c) & (target == c)).sum().item()
        union = ((pred == c) | (target == c)).sum().item()
        ious.append(100.0 * inter / union if (target == c).any() else float('nan'))
    present = [x for x in ious if x == x]
    return sum(present) / len(present), ious


def pair_accuracy(pred, target, a, b):
    """Among patches of class a or b predicted as a or b, the share given the right one (chance: 50 %)."""
    inside = ((target == a) | (target == b)) & ((pred == a) | (pred == b))
    return 100.0 * (pred[inside] == target[inside]).float().mean().item() if inside.any() else float('nan')


def fit_logistic(x, y, weight_decay, steps=100):
    import torch
    import torch.nn.functional as F
    linear = torch.nn.Linear(x.shape[1], 6)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1, max_iter=steps, line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(x), y) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda z: linear(z).argmax(-1).detach()


def fit_ridge(x, y, lam):
    import torch
    x1 = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    coef = torch.linalg.solve(x1.T @ x1 + lam * torch.eye(x1.shape[1], dtype=torch.double), x1.T @ y.double())
    return lambda z: (torch.cat([z, torch.ones(len(z), 1)], 1).double() @ coef).float()


def linear_probes(feats, pool, val, test, fractions):
    """Class and relative-depth probes per feature set and label fraction; regularisation chosen on val."""
    from m33d_mm.segmentation.datasets import select_subset
    from m33d_mm.synthetic.benchmark import CLASSES
    results = {}
    n_pool = pool[1].shape[0]
    per_image = pool[1].shape[1]
    for key in feats['pool']:
        results[key] = {}
        for fraction in fractions:
            frames = [d['i'] for d in select_subset([dict(i=i) for i in range(n_pool)], fraction, 0)]
            rows = (torch_index(frames, per_image))
            x = feats['pool'][key][rows]
            mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
            xs = {s: (feats[s][key] - mean) / std for s in ('val', 'test')}
            x = (x - mean) / std
            cls, depth, valid = pool[3].flatten()[rows], pool[1].flatten()[rows], pool[2].flatten()[rows]
            labelled = cls != 255
            v_cls, t_cls = val[3].flatten(), test[3].flatten()
            best = None
            for decay in (1e-4, 1e-3, 1e-2):
                predict = fit_logistic(x[labelled], cls[labelled], decay)
                score = benchmark_miou(predict(xs['val'])[v_cls != 255], v_cls[v_cls != 255])[0]
                if best is None or score > best[0]:
                    best = (score, decay, predict)
            pred = best[2](xs['test'])[t_cls != 255]
            target = t_cls[t_cls != 255]
            miou, per_class = benchmark_miou(pred, target)
            best_depth = None
            v_ok, t_ok = val[2].flatten(), test[2].flatten()
            for lam in (1.0, 1e2, 1e4):
                predict = fit_ridge(x[valid], depth[valid], lam)
                err = (predict(xs['val'][v_ok]) - val[1].flatten()[v_ok]).pow(2).mean().sqrt().item()
                if best_depth is None or err < best_depth[0]:
                    best_depth = (err, lam, predict)
            rmse = (best_depth[2](xs['test'][t_ok]) - test[1].flatten()[t_ok]).pow(2).mean().sqrt().item()
            results[key][str(fraction)] = dict(
                mIoU=miou, per_class=dict(zip(CLASSES, per_class)), acc=100.0 * (pred == target).float().mean().item(),
                sphere_disc=pair_accuracy(pred, target, 2, 3), cube_panel=pair_accuracy(pred, target, 4, 5),
                rel_depth_rmse=rmse, weight_decay=best[1], ridge=best_depth[1], frames=len(frames))
    return results


def torch_index(frames, per_image):
    import torch
    frames = torch.tensor(frames)
    return (frames[:, None] * per_image + torch.arange(per_image)[None]).flatten()


def cross_modal_probe(work_dir, rgb, depth, frames=256):
    """Masked-depth loss of a pre-trained RGB-D model given (a) RGB only, (b) nothing, (c) its training masks."""
    import torch
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    import m33d_mm.models  # noqa: F401
    from m33d_mm.models.checkpoint import extract_state_dict, load_trusted_work_dir
    configs = [n for n in os.listdir(work_dir) if n.endswith('.py')]
    cfg = Config.fromfile(osp.join(work_dir, configs[0]))
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    model.load_state_dict(extract_state_dict(load_trusted_work_dir(work_dir)))
    model.eval()
    batch = dict(inputs=dict(rgb=torch.from_numpy(rgb[:frames].transpose(0, 3, 1, 2).copy()),
                             depth=torch.from_numpy(depth[:frames])[:, None]))
    inputs = model.data_preprocessor(batch)['inputs']
    backbone = model.backbone
    n = int(torch.tensor(backbone.token_grid(inputs['rgb'])).prod())
    b = inputs['rgb'].shape[0]

    def plan(rgb_visible):
        all_ids = torch.arange(n)[None].expand(b, -1)
        none = (torch.zeros(b, 1, dtype=torch.long), torch.ones(b, n), torch.ones(b, 1, dtype=torch.bool))
        rgb_plan = (all_ids, torch.zeros(b, n), None) if rgb_visible else none
        return lambda *args: dict(rgb=rgb_plan, depth=none)

    out = {}
    original = backbone.sample_masks
    with torch.no_grad():
        for key, sampler in (('rgb_only', plan(True)), ('nothing', plan(False)), ('training_masks', original)):
            torch.manual_seed(0)
            backbone.sample_masks = sampler
            encoding = backbone.forward_mim(inputs)
            out[key] = model.head.loss(model.neck(encoding), inputs, encoding)['depth'].item()
    backbone.sample_masks = original
    out['gap_nothing_minus_rgb'] = out['nothing'] - out['rgb_only']
    return out


def run_probe(setup, out, arm, seed):
    import torch
    from m33d_mm.synthetic.benchmark import load_benchmark_split
    torch.set_num_threads(1)
    data = osp.join(out, 'data')
    splits = {s: load_benchmark_split(data, s) for s in ('labelled', 'val', 'test')}
    targets = {s: patch_targets(*splits[s]) for s in splits}
    if arm == 'position_only':
        feats = {('pool' if s == 'labelled' else s): position_features(len(splits[s][0])) for s in splits}
    else:
        work = osp.join(out, 'pretrain', f'{arm}_s{seed}') if arm != 'scratch' else None
        feats = {('pool' if s == 'labelled' else s): encoder_features(arm, work, targets[s][0], seed) for s in splits}
    result = dict(arm=arm, seed=seed, probes=linear_probes(feats, targets['labelled'], targets['val'], targets['test'],
                                                           setup['probe_fractions']))
    if arm not in ('scratch', 'position_only', 'mae_rgb'):
        work = osp.join(out, 'pretrain', f'{arm}_s{seed}')
        result['cross_modal'] = cross_modal_probe(work, splits['test'][0], splits['test'][1])
    if arm != 'position_only' and arm != 'scratch':
        result['pretraining'] = read_json(osp.join(out, 'pretrain', f'{arm}_s{seed}', 'done.json'))
    write_json(osp.join(out, 'probes', f'{arm}_s{seed}.json'), result)


# ---------------------------------------------------------------------------------------------------------
# report
def mean_std(values):
    values = [v for v in values if v == v]
    if not values:
        return None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0), len(values)


def fmt(stat, digits=1):
    if stat is None:
        return '–'
    mean, std, n = stat
    return f'{mean:.{digits}f} ± {std:.{digits}f}' if n > 1 else f'{mean:.{digits}f}'


def collect(out):
    probes, finetunes = {}, {}
    root = osp.join(out, 'probes')
    for name in sorted(os.listdir(root)) if osp.isdir(root) else []:
        if name.endswith('.json'):
            r = read_json(osp.join(root, name))
            probes.setdefault(r['arm'], []).append(r)
    root = osp.join(out, 'finetune')
    for dirpath, _, files in os.walk(root) if osp.isdir(root) else []:
        for name in files:
            if name == 'result.json' or name.endswith('_chosen.json'):
                r = read_json(osp.join(dirpath, name))
                finetunes.setdefault(r['arm'], {})[(r['seed'], r['fraction'], r['lr'])] = r
    return probes, finetunes


def chosen_finetunes(finetunes, setup):
    """Per arm and fraction: the lr chosen on val (seed 0) and the test mIoU of every seed at that lr."""
    out = {}
    seed0 = setup['seeds'][0]
    for arm, runs in finetunes.items():
        for fraction in setup['finetune_fractions']:
            select = [r for (s, f, lr), r in runs.items() if s == seed0 and f == fraction]
            if len(select) < len(setup['finetune_lrs']):
                continue
            lr = max(select, key=lambda r: r['val_mIoU'])['lr']
            chosen = [r for (s, f, l), r in runs.items() if f == fraction and l == lr]
            out[(arm, fraction)] = (lr, chosen)
    return out


CLASS_COLUMNS = ('wall', 'floor', 'sphere', 'disc', 'cube', 'panel')


def probe_stat(probes, arm, key, fraction, metric, per_class=None):
    key = 'position' if arm == 'position_only' else key
    rows = [r['probes'].get(key, {}).get(str(fraction)) for r in probes[arm]]
    values = [(r['per_class'][per_class] if per_class else r[metric]) for r in rows if r]
    return mean_std(values)


def report(setup, out, command):
    probes, finetunes = collect(out)
    arms = [a for a in ('position_only', ) + tuple(setup['arms']) if a in probes]
    primary = 0.1 if 0.1 in setup['probe_fractions'] else setup['probe_fractions'][0]
    lines = [f'**Primary: linear probe of the last layer, {primary:.0%} of the labelled pool** (test split; '
             'mean ± std over pre-training seeds; n = seeds finished)\n',
             '| arm | n | Σ lr/peak | mIoU | sphere/disc acc | cube/panel acc | rel. depth RMSE |',
             '|---|---|---|---|---|---|---|']
    for arm in arms:
        n = len([r for r in probes[arm]])
        budget = mean_std([r['pretraining']['lr_sum_over_peak'] for r in probes[arm] if 'pretraining' in r])
        cells = [fmt(probe_stat(probes, arm, 'last', primary, m), 2 if m == 'rel_depth_rmse' else 1)
                 for m in ('mIoU', 'sphere_disc', 'cube_panel', 'rel_depth_rmse')]
        lines.append(f'| {arm} | {n} | {fmt(budget, 0) if budget else "–"} | ' + ' | '.join(cells) + ' |')
    settings = [(k, f) for k in ('last', 'all') for f in setup['probe_fractions']]
    head = ' | '.join(f'{k} {f:.0%}' for k, f in settings)
    for metric, title, digits in (('mIoU', 'Probe mIoU', 1), ('rel_depth_rmse', 'Probe relative-depth RMSE', 3),
                                  ('sphere_disc', 'Probe sphere/disc accuracy', 1),
                                  ('cube_panel', 'Probe cube/panel accuracy', 1)):
        lines += [f'\n**{title}** by layers used and label budget (position_only: position one-hot)\n',
                  f'| arm | {head} |', '|---|' + '---|' * len(settings)]
        for arm in arms:
            lines.append(f'| {arm} | ' + ' | '.join(fmt(probe_stat(probes, arm, k, f, metric), digits)
                                                    for k, f in settings) + ' |')
    lines += [f'\n**Per-class IoU of the primary probe** (last layer, {primary:.0%})\n',
              '| arm | ' + ' | '.join(CLASS_COLUMNS) + ' |', '|---|' + '---|' * len(CLASS_COLUMNS)]
    for arm in arms:
        lines.append(f'| {arm} | ' + ' | '.join(fmt(probe_stat(probes, arm, 'last', primary, None, c))
                                                for c in CLASS_COLUMNS) + ' |')
    cross = [a for a in arms if any('cross_modal' in r for r in probes[a])]
    if cross:
        lines += ['\n**Cross-modal probe**: masked-depth loss on test frames (lower is better)\n',
                  '| arm | (a) all RGB, no depth | (b) nothing visible | (c) training masks | (b) − (a) |',
                  '|---|---|---|---|---|']
        for arm in cross:
            rs = [r['cross_modal'] for r in probes[arm] if 'cross_modal' in r]
            lines.append(f'| {arm} | ' + ' | '.join(fmt(mean_std([r[k] for r in rs]), 3) for k in (
                'rgb_only', 'nothing', 'training_masks', 'gap_nothing_minus_rgb')) + ' |')
    chosen = chosen_finetunes(finetunes, setup)
    if chosen:
        lines += ['\n**Fine-tuning** (ConvNeXt adapter head, test mIoU and per-class IoU; lr chosen per arm on '
                  'val)\n', '| arm | labels | lr | n | test mIoU | ' + ' | '.join(CLASS_COLUMNS) + ' |',
                  '|---|---|---|---|---|' + '---|' * len(CLASS_COLUMNS)]
        for arm in setup['arms']:
            for fraction in setup['finetune_fractions']:
                if (arm, fraction) in chosen:
                    lr, rs = chosen[(arm, fraction)]
                    cells = [fmt(mean_std([r['per_class'].get(c, float('nan')) for r in rs])) for c in CLASS_COLUMNS]
                    lines.append(f'| {arm} | {fraction:.0%} | {lr:g} | {len(rs)} | '
                                 f'{fmt(mean_std([r["test_mIoU"] for r in rs]))} | ' + ' | '.join(cells) + ' |')
    verdict = validity(probes, setup)
    text = '\n'.join(lines) + f'\n\n{verdict}\n\nSetup: `{json.dumps(setup)}`\n\nCommand: `{command}`\n'
    return text, probes, chosen


def validity(probes, setup):
    """The validity rule on the primary probe (last layer, 10 % labels, mIoU)."""
    f = '0.1' if 0.1 in setup['probe_fractions'] else str(setup['probe_fractions'][0])

    def values(arm):
        return [r['probes']['last'][f]['mIoU'] for r in probes.get(arm, []) if f in r['probes'].get('last', {})]

    control, scratch = values('rgb2depth'), values('scratch')
    if len(control) < 2 or len(scratch) < 2:
        return (f'Validity rule: not evaluable yet ({len(control)} positive-control and {len(scratch)} scratch '
                'seeds finished; two of each are needed).')
    gap = statistics.mean(control) - statistics.mean(scratch)
    spread = max(statistics.stdev(control), statistics.stdev(scratch))
    ok = gap > 2 * spread
    return (f'Validity rule (primary probe, last layer, {float(f):.0%} labels): positive control − scratch = '
            f'{gap:.1f} mIoU, twice the larger spread = {2 * spread:.1f} → the benchmark '
            f'{"COUNTS" if ok else "does NOT count"}.')


def plot(probes, chosen, setup, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    arms = [a for a in ('position_only', ) + tuple(setup['arms']) if a in probes]
    fractions = setup['probe_fractions']
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric, label in zip(axes, ('mIoU', 'sphere_disc', 'rel_depth_rmse'),
                                 ('probe mIoU (%)', 'sphere/disc accuracy (%)', 'relative-depth RMSE')):
        width = 0.8 / max(1, len(arms))
        for i, arm in enumerate(arms):
            key = 'position' if arm == 'position_only' else 'last'
            stats = [mean_std([r['probes'][key][str(f)][metric] for r in probes[arm] if str(f) in r['probes'][key]])
                     for f in fractions]
            xs = [j + i * width for j in range(len(fractions))]
            ax.bar(xs, [s[0] if s else 0 for s in stats], width, yerr=[s[1] if s else 0 for s in stats], capsize=2,
                   label=arm)
        if metric == 'rel_depth_rmse':
            low = [r['probes'][k][str(f)][metric] for a in arms for r in probes[a] for k in r['probes']
                   for f in fractions if str(f) in r['probes'][k]]
            ax.set_ylim(bottom=0.95 * min(low))  # the differences are small next to the value
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(fractions))])
        ax.set_xticklabels([f'{f:.0%} labels' for f in fractions])
        ax.set_title(label + ', last-layer probe', fontsize=9)
    axes[0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def more_jobs_from(hhmm):
    """``HH:MM`` (UTC, today) as a time stamp; None without one. A time already past means no wait."""
    if not hhmm:
        return None
    try:
        hours, minutes = (int(x) for x in hhmm.split(':'))
    except ValueError:
        raise SystemExit(f'--more-jobs-at: expected HH:MM (UTC), got "{hhmm}"') from None
    now = time.gmtime()
    return time.time() + (hours * 60 + minutes) * 60 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec)


# ---------------------------------------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='work_dirs/study_v2')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--smoke', action='store_true', help='seconds: tiny data, a few iterations, one seed')
    mode.add_argument('--pilot', action='store_true', help='the reduced protocol: five arms, 400 iterations')
    parser.add_argument('--arms', nargs='+', choices=tuple(ARMS), help='a subset of the protocol\'s arms')
    parser.add_argument('--jobs', type=int, default=2, help='single-threaded jobs side by side')
    parser.add_argument('--more-jobs-at', metavar='HH:MM', help='run one job at a time until this UTC time')
    parser.add_argument('--report', action='store_true', help='only rebuild the tables from finished jobs')
    parser.add_argument('--write-docs', action='store_true', help='write docs/results_table.md and docs/results.png')
    parser.add_argument('--probe', nargs=2, metavar=('ARM', 'SEED'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup = SMOKE if args.smoke else PILOT if args.pilot else FULL
    if args.arms:
        setup = dict(setup, arms=tuple(a for a in ARMS if a in args.arms))
    out = osp.abspath(args.out)
    if args.jobs < 1:
        parser.error('--jobs must be >= 1')
    if args.probe:
        run_probe(setup, out, args.probe[0], int(args.probe[1]))
        return
    os.environ.update(SINGLE_THREAD)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import torch
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)
    if not args.report:
        start = time.time()
        prepare_data(setup, out)
        jobs = build_jobs(setup, out, setup['arms'])
        failed = run_jobs(jobs, args.jobs, lambda: True, more_jobs_from(args.more_jobs_at))
        print(f'{len(jobs) - len(failed)} of {len(jobs)} jobs done, {len(failed)} failed; '
              f'{(time.time() - start) / 60:.1f} min this run', flush=True)
    command = (f'python tools/experiments/benchmark_study.py --out {args.out}'
               + (' --smoke' if args.smoke else ' --pilot' if args.pilot else '')
               + (f' --arms {" ".join(args.arms)}' if args.arms else '') + ' --report')
    text, probes, chosen = report(setup, out, command)
    print(text)
    with open(osp.join(out, 'results.md'), 'w') as f:
        f.write(text)
    if probes:
        plot(probes, chosen, setup, osp.join(out, 'results.png'))
    if args.write_docs:
        with open(osp.join(REPO, 'docs', 'results_table.md'), 'w') as f:
            f.write(text)
        if probes:
            plot(probes, chosen, setup, osp.join(REPO, 'docs', 'results.png'))


if __name__ == '__main__':
    main()
