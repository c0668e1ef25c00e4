"""The GPU check: one command that proves the project on a bare 1-GPU machine and measures it.

    python3 tools/benchmark/gpu_check.py OUT_DIR [--wheelhouse wheelhouse]
    python tools/benchmark/gpu_check.py OUT_DIR --dry-run      # every step at toy size on the CPU

Steps, in order (each logged to ``OUT_DIR/check.log``; figures and status in ``OUT_DIR/gpu_check.json``):

1. ``install`` -- the OpenMMLab packages, their missing dependencies and the project's wheel from the
   offline wheelhouse (``make gpu-wheels``): ``pip install --no-index --no-deps --target SITE``; later steps
   run with ``SITE`` first on ``PYTHONPATH``. The dry run asks pip to resolve the same install offline
   (``--dry-run``) instead.
2. ``environment`` -- torch, CUDA and device, and the versions actually imported.
3. ``pytest_gpu`` -- ``pytest -m gpu tests/test_gpu*.py`` (on the CPU those tests skip: they need CUDA).
4. ``train`` -- ``tools/train.py configs/m33d/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py --amp``
   on synthetic 224² RGB-D
   frames through the real dataloader (8 workers), first ~30 iterations, then ``--resume`` to ~50: the loss
   must be finite and fall, the checkpoint must be written and resumed from.
5. ``pretrain_image`` / ``pretrain_video`` / ``pretrain_image_compiled`` --
   ``tools/benchmark/pretrain_step.py`` (bf16) next to mmpretrain's MAE and VideoMAE in the same process.
6. ``fsdp`` -- one process, ``tools/train.py`` on
   ``configs/m33d/m33d-stage2_vit-base-p16_fsdp-8xb64-100e_scannet-rgbd.py`` with its
   ``FSDPStrategy`` for two iterations. PyTorch has no CPU FSDP: the dry run must get as far as FSDP's own
   refusal of the CPU, and no other error counts as success.

The whole check keeps to ``--budget-s`` (default 450 s); a step that would overrun it is stopped and marked.
Exit status 0 only when every step passed.
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LOCK = osp.join(REPO, 'requirements', 'lock-gpu.txt')
CPU_FSDP_REFUSAL = 'FSDP needs a non-CPU accelerator device'
# the tests marked gpu live in these files; collecting the whole suite would only add imports
GPU_TESTS = sorted(osp.join('tests', f) for f in os.listdir(osp.join(REPO, 'tests'))
                   if f.startswith('test_gpu') and f.endswith('.py'))


class StepFailed(RuntimeError):
    pass


class Check:
    """Runs the steps, keeps the log and the summary, and the time budget."""

    def __init__(self, args):
        self.args = args
        self.out = osp.abspath(args.out)
        self.scratch = osp.abspath(args.scratch)
        os.makedirs(self.out, exist_ok=True)
        if osp.isdir(self.scratch):
            shutil.rmtree(self.scratch)
        os.makedirs(self.scratch)
        self.log_path = osp.join(self.out, 'check.log')
        self.log = open(self.log_path, 'w')
        self.start = time.time()
        self.env = dict(os.environ, PYTHONUNBUFFERED='1')
        self.env.setdefault('OMP_NUM_THREADS', '1' if args.dry_run else '4')
        self.env['PYTHONPATH'] = os.pathsep.join([REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p])
        self.summary = dict(mode='dry-run (CPU, toy sizes)' if args.dry_run else 'gpu', started=time.strftime(
            '%Y-%m-%d %H:%M:%S UTC', time.gmtime()), budget_s=args.budget_s, steps={})

    def remaining(self):
        return self.args.budget_s - (time.time() - self.start)

    def write(self, text):
        self.log.write(text)
        self.log.flush()
        if not self.args.quiet:
            sys.stdout.write(text)
            sys.stdout.flush()

    def run(self, cmd, timeout, env=None, cwd=REPO, accept=None):
        """Run a command, its output into the log; returns the output. ``accept(output)`` may excuse a failure."""
        timeout = min(timeout, self.remaining())
        if timeout <= 5:
            raise StepFailed('no time left in --budget-s')
        self.write(f'$ {" ".join(str(c) for c in cmd)}\n')
        try:
            proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or self.env, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            output = (err.stdout or b'').decode() if isinstance(err.stdout, bytes) else (err.stdout or '')
            self.write(output[-20000:])
            raise StepFailed(f'stopped after {timeout:.0f} s ({" ".join(str(c) for c in cmd[:3])} ...)') from None
        output = proc.stdout + proc.stderr
        self.write(output if len(output) < 200000 else output[:50000] + '\n[...]\n' + output[-100000:])
        if proc.returncode != 0 and not (accept and accept(output)):
            tail = [line for line in output.strip().splitlines() if line.strip()][-1:] or ['']
            raise StepFailed(f'exit status {proc.returncode}: {tail[0][:300]}')
        return output

    def step(self, name, fn):
        self.write(f'\n===== {name} ({time.time() - self.start:.0f} s into the check) =====\n')
        began = time.time()
        record = dict(status='passed')
        try:
            record.update(fn() or {})
        except StepFailed as err:
            record.update(status='failed', error=str(err))
        except Exception as err:  # a broken step must not stop the ones after it
            record.update(status='failed', error=f'{type(err).__name__}: {err}')
            self.write(traceback.format_exc())
        record['seconds'] = round(time.time() - began, 1)
        self.summary['steps'][name] = record
        self.write(f'----- {name}: {record["status"]} in {record["seconds"]} s'
                   + (f' ({record["error"]})' if 'error' in record else '') + '\n')
        self.save()

    def save(self):
        self.summary['seconds'] = round(time.time() - self.start, 1)
        with open(osp.join(self.out, 'gpu_check.json'), 'w') as f:
            json.dump(self.summary, f, indent=2)

    # ------------------------------------------------------------------------------------------------
    def install(self):
        wheelhouse = osp.abspath(self.args.wheelhouse)
        if not osp.isdir(wheelhouse):
            if self.args.dry_run:
                return dict(status='skipped', reason=f'no wheelhouse at {wheelhouse} (make gpu-wheels makes it)')
            raise StepFailed(f'no wheelhouse at {wheelhouse}: run `make gpu-wheels` on a machine with network')
        projects = sorted(f for f in os.listdir(wheelhouse) if f.startswith('m33d_mm-') and f.endswith('.whl'))
        if len(projects) != 1:
            raise StepFailed(f'{wheelhouse}: expected one m33d_mm wheel, found {projects}')
        site = osp.abspath(self.args.site)
        cmd = [sys.executable, '-m', 'pip', 'install', '--no-index', '--no-deps', '--no-compile', '--no-cache-dir',
               '--disable-pip-version-check', '--find-links', wheelhouse, '-r', LOCK,
               osp.join(wheelhouse, projects[0])]
        if self.args.dry_run:
            cmd += ['--dry-run', '--ignore-installed', '--target', osp.join(self.scratch, 'site')]
        else:
            shutil.rmtree(site, ignore_errors=True)
            cmd += ['--target', site, '--upgrade']
        output = self.run(cmd, timeout=180)
        if not self.args.dry_run:
            # the installed project, then the repository's tools/ and tests/ next to it
            self.env['PYTHONPATH'] = os.pathsep.join([site] + self.env['PYTHONPATH'].split(os.pathsep)[1:])
        line = next((line for line in output.splitlines() if 'Would install' in line or 'Successfully' in line), '')
        return dict(wheelhouse=wheelhouse, packages=len(line.split()) - 2 if line else None, pip=line.strip())

    def use_paths(self):
        """Import the project and the stack in this process from where the steps' subprocesses take them."""
        for path in reversed(self.env['PYTHONPATH'].split(os.pathsep)):
            if path and path not in sys.path:
                sys.path.insert(0, path)

    def environment(self):
        self.use_paths()
        import m33d_mm
        import mmaction
        import mmcv
        import mmengine
        import mmpretrain
        import mmseg
        import torch
        cuda = torch.cuda.is_available()
        info = dict(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=cuda,
                    device=torch.cuda.get_device_name() if cuda else None, python=sys.version.split()[0],
                    m33d_mm=m33d_mm.__file__, mmengine=mmengine.__version__, mmpretrain=mmpretrain.__version__,
                    mmseg=mmseg.__version__, mmaction=mmaction.__version__, mmcv=mmcv.__version__,
                    sdpa_flash=torch.backends.cuda.flash_sdp_enabled() if cuda else None)
        if not self.args.dry_run and not info['cuda_available']:
            raise StepFailed('torch sees no CUDA device')
        if shutil.which('nvidia-smi'):
            info['nvidia_smi'] = self.run(['nvidia-smi', '--query-gpu=name,memory.total,driver_version',
                                           '--format=csv,noheader'], timeout=30).strip()
        return info

    def pytest_gpu(self):
        """``pytest -m gpu`` on the GPU test files, in this process (the stack is imported already)."""
        self.use_paths()
        import pytest
        junit = osp.join(self.scratch, 'pytest_gpu.xml')
        argv = ['-q', '-m', 'gpu', '-p', 'no:cacheprovider', '-rs', f'--junitxml={junit}', '--rootdir', REPO,
                '-c', osp.join(REPO, 'pytest.ini')] + [osp.join(REPO, t) for t in GPU_TESTS]
        self.write(f'$ pytest {" ".join(argv)}\n')
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = pytest.main(argv)
        output = buffer.getvalue()
        self.write(output)
        if int(code) not in (0, 5):
            raise StepFailed(f'pytest exit status {int(code)}: ' + (output.strip().splitlines() or [''])[-1])
        counts = {k: int(v) for v, k in re.findall(r'(\d+) (passed|failed|skipped|error|deselected)', output)}
        if not self.args.dry_run and counts.get('passed', 0) == 0:
            raise StepFailed(f'no GPU test passed: {counts}')
        if self.args.dry_run and counts.get('skipped', 0) == 0:
            raise StepFailed(f'without CUDA every GPU test must skip, got {counts}')
        return dict(counts=counts)

    # ------------------------------------------------------------------------------------------------
    def data(self):
        """Synthetic ScanNet-layout frames (rendered once, shared by ``train`` and ``fsdp``)."""
        root = osp.join(self.scratch, 'synthetic_rgbd')
        if not osp.isdir(root):
            self.use_paths()
            from m33d_mm.synthetic.scenes import generate_dataset
            size = dict(height=64, width=80) if self.args.dry_run else dict(height=240, width=320)
            generate_dataset(root, num_scenes=self.args.scenes + 1, frames_per_scene=self.args.frames, val_scenes=1,
                             seed=0,
                             workers=1 if self.args.dry_run else 8, **size)
        return root

    def derived_config(self, name, base, batch, workers, extra='', hooks=''):
        """A config file that takes ``base`` as it is and points it at the synthetic frames."""
        model = "model = dict(backbone=dict(pretrained=None))\n"
        if self.args.dry_run:  # toy width; the 224 crop, masks, decoder, loss and optimizer stay the recipe's
            model = ("model = dict(backbone=dict(pretrained=None, arch=dict(_delete_=True, embed_dims=32, "
                     "num_layers=2, num_heads=2, feedforward_channels=64)), neck=dict(in_channels=32, embed_dims=32, "
                     "num_heads=2))\n")
        text = (f"_base_ = {osp.join(REPO, 'configs', 'm33d', base)!r}\n" + model +
                f"train_dataloader = dict(batch_size={batch}, num_workers={workers}, persistent_workers={workers > 0},"
                f" dataset=dict(data_root={self.data()!r}, split_file='splits/train.txt', frame_skip=1))\n"
                # a short warm-up instead of the recipe's 10 epochs, so the loss moves within ~50 iterations
                "param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)]\n"
                f"default_hooks = dict(logger=dict(interval=1){hooks})\n" + extra)
        path = osp.join(self.scratch, f'{name}.py')
        with open(path, 'w') as f:
            f.write(text)
        return path

    @staticmethod
    def losses(work_dir):
        """``[(iter, loss)]`` from mmengine's scalar logs under a work directory, in order."""
        rows = []
        for root, _, files in os.walk(work_dir):
            if 'scalars.json' in files:
                with open(osp.join(root, 'scalars.json')) as f:
                    rows += [json.loads(line) for line in f if line.strip()]
        return sorted((r['iter'], r['loss']) for r in rows if 'loss' in r)

    def train(self):
        a = self.args
        batch = 2 if a.dry_run else a.train_batch
        iters_per_epoch = (a.scenes * a.frames) // batch
        first, total = max(1, a.train_epochs * 3 // 5), a.train_epochs
        workers = 2 if a.dry_run else 8
        cfg = self.derived_config('train_stage2', 'm33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py', batch, workers,
                                  extra=f"max_epochs = {total}\ntrain_cfg = dict(max_epochs={total})\n",
                                  hooks=', checkpoint=dict(interval=1, max_keep_ckpts=1)')
        work = osp.join(self.scratch, 'train_stage2')
        cmd = [sys.executable, 'tools/train.py', cfg, '--amp', '--no-validate', '--work-dir', work]
        self.run(cmd + ['--cfg-options', f'train_cfg.max_epochs={first}'], timeout=300)
        checkpoint = osp.join(work, f'epoch_{first}.pth')
        if not osp.isfile(checkpoint):
            raise StepFailed(f'no checkpoint {checkpoint} after the first run')
        output = self.run(cmd + ['--resume'], timeout=300)
        if f'resumed epoch: {first}, iter: {first * iters_per_epoch}' not in output:
            raise StepFailed(f'the second run did not report resuming at epoch {first} from {checkpoint}')
        losses = self.losses(work)
        values = [v for _, v in losses]
        expected = iters_per_epoch * total
        if not values or any(v != v or abs(v) == float('inf') for v in values):
            raise StepFailed(f'loss not finite or missing: {values[:5]}')
        iters = sorted({i for i, _ in losses})
        if iters[-1] != expected or iters[0] != 1:
            raise StepFailed(f'logged iterations {iters[0]}..{iters[-1]}, expected 1..{expected}')
        k = max(1, len(values) // 5)
        head, tail = sum(values[:k]) / k, sum(values[-k:]) / k
        if not tail < head:
            raise StepFailed(f'loss did not fall: first {k} mean {head:.4f}, last {k} mean {tail:.4f}')
        # on the CPU, --amp builds compat's CPUAmpOptimWrapper (bf16 autocast), which says so in the log
        wrapper = 'AmpOptimWrapper' if not a.dry_run else 'CPUAmpOptimWrapper'
        if wrapper not in output:
            raise StepFailed(f'{wrapper} not in the resumed run\'s log')
        step_times = [float(t) for t in re.findall(r'\btime: ([0-9.]+)', output)]
        return dict(iterations=expected, batch=batch, workers=workers, resumed_at_epoch=first,
                    loss_first=head, loss_last=tail, optim_wrapper=wrapper,
                    median_iter_s=sorted(step_times)[len(step_times) // 2] if step_times else None)

    def pretrain(self, name, extra):
        """``tools/benchmark/pretrain_step.py`` in this process (one import of the stack for all its runs)."""
        self.use_paths()
        if osp.join(REPO, 'tools', 'benchmark') not in sys.path:
            sys.path.insert(0, osp.join(REPO, 'tools', 'benchmark'))
        import pretrain_step
        import torch
        out = osp.join(self.scratch, f'{name}.json')
        a = self.args
        if a.dry_run:
            size = ['--encoder', 'toy', '--size', '64', '--frames', '4', '--batch', '2', '--steps', '1',
                    '--peak-size', '256']
        else:
            size = ['--device', 'cuda', '--steps', str(a.bench_steps), '--peak-size', '8192',
                    '--nominal-tflops', str(a.nominal_tflops)]
        argv = ['--precision', 'bf16', *size, *extra, '--out', out]
        self.write(f'$ python tools/benchmark/pretrain_step.py {" ".join(argv)}\n')
        timeout = int(min(a.compile_timeout_s if '--compile' in extra else 240, self.remaining()))
        if timeout < 30:
            raise StepFailed('no time left in --budget-s')

        def overrun(*_):
            raise StepFailed(f'stopped after {timeout} s')

        buffer = io.StringIO()
        previous = signal.signal(signal.SIGALRM, overrun)
        signal.alarm(timeout)
        try:
            with contextlib.redirect_stdout(buffer):
                result = pretrain_step.main(argv)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            self.write(buffer.getvalue())
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        rows = {r['model']: {k: r[k] for k in ('step_s', 'gflops', 'fraction_of_peak', 'ratio_to_reference', 'mfu',
                                             'peak_memory_mb', 'gflop_per_step', 'first_step_s', 'graph_breaks')}
                for r in result['rows']}
        return dict(matmul_peak_gflops=result['matmul_peak_gflops'], rows=rows, args=' '.join(argv[:-2]))

    def fsdp(self):
        batch = 2 if self.args.dry_run else self.args.train_batch
        extra = "train_cfg = dict(_delete_=True, by_epoch=False, max_iters=2)\n"
        if self.args.dry_run:  # no CUDA device to place the shards on
            extra += "strategy = dict(model_wrapper=dict(device_id=None))\n"
        cfg = self.derived_config('fsdp_stage2', 'm33d-stage2_vit-base-p16_fsdp-8xb64-100e_scannet-rgbd.py', batch, 2,
                                  extra=extra,
                                  hooks=', checkpoint=dict(by_epoch=False, interval=2)')
        env = dict(self.env, RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', LOCAL_WORLD_SIZE='1',
                   MASTER_ADDR='127.0.0.1', MASTER_PORT=str(self.args.port))
        work = osp.join(self.scratch, 'fsdp_stage2')
        accept = (lambda output: CPU_FSDP_REFUSAL in output) if self.args.dry_run else None
        output = self.run([sys.executable, 'tools/train.py', cfg, '--launcher', 'pytorch', '--work-dir', work],
                          timeout=240, env=env, accept=accept)
        if CPU_FSDP_REFUSAL in output:
            if 'FlexibleRunner' not in output and 'FSDP' not in output:
                raise StepFailed('FSDP refusal without the FlexibleRunner having started')
            return dict(reached='FSDP wrapping (PyTorch has no CPU FSDP: the step itself needs a GPU)')
        losses = self.losses(work)
        if len(losses) < 2 or any(v != v for _, v in losses):
            raise StepFailed(f'expected two finite FSDP iterations, got {losses}')
        return dict(iterations=len(losses), losses=[v for _, v in losses])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', help='folder for check.log and gpu_check.json')
    parser.add_argument('--dry-run', action='store_true', help='toy sizes on the CPU (the default without CUDA)')
    parser.add_argument('--wheelhouse', default=osp.join(REPO, 'wheelhouse'))
    parser.add_argument('--site', default='/tmp/m33d_gpu_site', help='where the wheels are installed')
    parser.add_argument('--scratch', default='/tmp/m33d_gpu_check', help='data, configs and work dirs (erased)')
    parser.add_argument('--budget-s', type=float, default=450.0, help='stop starting steps after this long')
    parser.add_argument('--train-batch', type=int, default=32)
    parser.add_argument('--train-epochs', type=int, default=5, help='the first run does 3/5 of them')
    parser.add_argument('--scenes', type=int, default=20, help='synthetic train scenes')
    parser.add_argument('--frames', type=int, default=16, help='frames per synthetic scene')
    parser.add_argument('--image-batch', type=int, default=128)
    parser.add_argument('--video-batch', type=int, default=16)
    parser.add_argument('--bench-steps', type=int, default=10)
    parser.add_argument('--compile-timeout-s', type=float, default=240.0)
    parser.add_argument('--nominal-tflops', type=float, default=989.0, help='datasheet dense bf16 TFLOP/s')
    parser.add_argument('--skip', nargs='*', default=[], help='steps to leave out')
    parser.add_argument('--port', type=int, default=29531)
    parser.add_argument('--quiet', action='store_true', help='log to the file only')
    args = parser.parse_args(argv)
    if not args.dry_run:
        try:
            import torch
            has_cuda = torch.cuda.is_available()
        except ImportError:
            has_cuda = False
        if not has_cuda:
            print('gpu_check: no CUDA device visible; running the --dry-run at toy sizes on the CPU')
            args.dry_run = True
    if args.dry_run:
        args.scenes, args.frames = min(args.scenes, 1), min(args.frames, 8)
        args.train_epochs = min(args.train_epochs, 3)
    return args


def main(argv=None):
    args = parse_args(argv)
    check = Check(args)
    batch = ['--batch', str(args.image_batch)] if not args.dry_run else []
    video_batch = ['--batch', str(args.video_batch)] if not args.dry_run else []
    # the dry run traces the M3D step only (graph breaks are counted), without generating code
    compile_extra = ['--compile'] + (['--compile-backend', 'eager', '--models', 'm3d'] if args.dry_run else [])
    steps = [
        ('install', check.install),
        ('environment', check.environment),
        ('pytest_gpu', check.pytest_gpu),
        ('train', check.train),
        ('pretrain_image', lambda: check.pretrain('pretrain_image', batch)),
        ('pretrain_video', lambda: check.pretrain('pretrain_video', ['--video', *video_batch])),
        ('fsdp', check.fsdp),
        ('pretrain_image_compiled', lambda: check.pretrain('pretrain_image_compiled', batch + compile_extra)),
    ]
    for name, fn in steps:
        if name in args.skip:
            check.summary['steps'][name] = dict(status='skipped', reason='--skip')
            continue
        check.step(name, fn)
    failed = [n for n, s in check.summary['steps'].items() if s['status'] == 'failed']
    check.summary['failed'] = failed
    check.save()
    check.write(f'\ngpu_check ({check.summary["mode"]}): {len(check.summary["steps"]) - len(failed)} of '
                f'{len(check.summary["steps"])} steps passed or skipped in {check.summary["seconds"]:.0f} s'
                + (f'; failed: {", ".join(failed)}' if failed else '') + f'; figures in {check.out}/gpu_check.json\n')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
