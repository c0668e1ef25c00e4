"""The tools' command lines: --help before the stack is imported, --auto-scale-lr on every config, the launch
scripts' usage line and venv, converters creating their output folder."""
import argparse
import glob
import importlib.util
import os
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config

from conftest import REPO, TINY_ARCH

from m33d_mm.models import RGBDViT

HELP_TOOLS = [
    'tools/train.py', 'tools/test.py', 'tools/visualize_reconstruction.py',
    'tools/model_converters/mae_to_m33d.py', 'tools/model_converters/m33d_to_mmpretrain_vit.py',
    'tools/model_converters/m33d_to_mmseg_vit.py', 'tools/model_converters/m33d_to_mmaction_vit.py',
    'tools/dataset_converters/scannet_sens.py', 'tools/dataset_converters/scannet_labels.py',
    'tools/dataset_converters/nyuv2.py',
]
# --help is answered before any of these is imported (each takes seconds to import)
HEAVY = ('torch', 'm33d_mm', 'mmpretrain', 'mmseg', 'mmaction', 'mmengine.runner')
BLOCK_AND_RUN = ('import runpy, sys\n'
                 'for name in {heavy!r}:\n'
                 '    sys.modules[name] = None  # importing it now raises ImportError\n'
                 'sys.argv = [{tool!r}, "--help"]\n'
                 'runpy.run_path({tool!r}, run_name="__main__")\n')


@pytest.mark.parametrize('tool', HELP_TOOLS)
def test_help_is_printed_before_the_stack_is_imported(tool):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-c', BLOCK_AND_RUN.format(heavy=HEAVY, tool=tool)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'usage:' in proc.stdout
    print(f'{tool} --help: {time.perf_counter() - start:.2f} s')


def _load_train_tool():
    spec = importlib.util.spec_from_file_location('_cli_train', REPO / 'tools' / 'train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train_args(config, **overrides):
    args = dict(config=config, work_dir=None, resume=None, amp=False, no_validate=False, auto_scale_lr=True,
                cfg_options=None, launcher='none', local_rank=0, trust_checkpoint=[])
    return argparse.Namespace(**dict(args, **overrides))


# configs/_base_/ holds fragments that recipes include, not configs of their own
@pytest.mark.parametrize('config', sorted(p for p in glob.glob(str(REPO / 'configs' / '*' / '*.py'))
                                          if '/_base_/' not in p),
                         ids=lambda path: os.path.relpath(path, REPO))
def test_auto_scale_lr_works_on_every_config(config):
    train = _load_train_tool()
    cfg = train.merge_args(Config.fromfile(config), _train_args(config))
    assert cfg.auto_scale_lr.enable is True
    if '/quickstart/' in config:
        # the quick-start lr is set for its batch in one process: --auto-scale-lr must leave it as it is
        assert cfg.auto_scale_lr.base_batch_size == cfg.train_dataloader.batch_size


def test_auto_scale_lr_without_a_base_batch_size_is_one_clear_line(tmp_path):
    config = tmp_path / 'no_scale.py'
    config.write_text("train_dataloader = dict(batch_size=4)\noptim_wrapper = dict(optimizer=dict(lr=0.1))\n")
    train = _load_train_tool()
    with pytest.raises(SystemExit, match=r'--auto-scale-lr: .*no_scale\.py sets no auto_scale_lr\.base_batch_size'):
        train.merge_args(Config.fromfile(config), _train_args(str(config)))


@pytest.mark.parametrize('script, usage', [('dist_train.sh', 'CONFIG NUM_PROCS_PER_NODE'),
                                           ('dist_test.sh', 'CONFIG CHECKPOINT NUM_PROCS_PER_NODE')])
def test_launch_scripts_print_usage_and_use_the_project_venv(script, usage, tmp_path):
    proc = subprocess.run(['bash', str(REPO / 'tools' / script)], capture_output=True, text=True,
                          env=dict(os.environ, PATH='/usr/bin:/bin'))
    assert proc.returncode == 2
    assert f'usage: bash tools/{script} {usage}' in proc.stderr and 'torch' not in proc.stderr

    # a copy of the project with a .venv: the scripts run its python (here a stand-in that records its arguments)
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'tools' / script).write_text((REPO / 'tools' / script).read_text())
    python = tmp_path / '.venv' / 'bin' / 'python'
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/called\n')
    python.chmod(0o755)
    args = ['cfg.py', '2'] if script == 'dist_train.sh' else ['cfg.py', 'ckpt.pth', '2']
    proc = subprocess.run(['bash', str(tmp_path / 'tools' / script)] + args, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != 'PYTHON'})
    assert proc.returncode == 0, proc.stderr
    called = (tmp_path / 'called').read_text()
    assert called.startswith('-m torch.distributed.run') and '--nproc_per_node=2' in called
    assert '--launcher pytorch' in called


def test_converters_create_a_missing_output_folder(tmp_path):
    torch.manual_seed(0)
    encoder = RGBDViT(arch=TINY_ARCH, patch_size=8)
    src = tmp_path / 'm33d.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in encoder.state_dict().items()}), src)
    for name in ('m33d_to_mmpretrain_vit', 'm33d_to_mmseg_vit'):
        dst = tmp_path / name / 'new' / 'folder' / 'out.pth'
        proc = subprocess.run([sys.executable, f'tools/model_converters/{name}.py', str(src), str(dst),
                               '--img-size', '32', '--num-heads', '2'], cwd=REPO, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert dst.is_file()


def test_a_stock_openmmlab_train_tool_gets_the_project_fixes_and_checks(synthetic_root, tmp_path, run_tool):
    """mmpretrain's own tools/train.py (no project code; `custom_imports` brings m33d_mm): AMP on a CPU-only
    machine, and a checkpoint of another model refused in one line, as with tools/train.py and `mim train`."""
    import mmpretrain
    stock = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    options = [f'train_dataloader.dataset.data_root={synthetic_root}', 'train_dataloader.num_workers=0',
               'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1']
    work = tmp_path / 'amp'
    run_tool([stock, 'configs/quickstart/m33d_tiny_synthetic_stage1.py', '--work-dir', work, '--amp',
              '--no-persistent-workers', '--cfg-options', *options])
    assert (work / 'epoch_1.pth').is_file()
    wrong = run_tool([stock, 'configs/quickstart/m33d_tiny_synthetic_seg.py', '--work-dir', tmp_path / 'seg',
                      '--no-persistent-workers', '--cfg-options', 'model.backbone.pretrained=None',
                      f'load_from={work / "epoch_1.pth"}'], check=False)
    assert wrong.returncode != 0 and 'Traceback' not in wrong.stderr, wrong.stderr[-3000:]
    last = wrong.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and f'{work / "epoch_1.pth"} does not fit the model of this config' in last
