"""OpenMMLab packaging: a wheel built from the project ships configs, tools and the model index under
``m33d_mm/.mim``; installed into a throwaway environment it is listed by ``mim list``, ``mim train`` /
``mim test`` run the quick start, and configs elsewhere inherit ``_base_ = 'm33d_mm::...'``."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from conftest import REPO

SKIP = shutil.ignore_patterns('.git', '.venv', 'work_dirs', 'data', 'dist', 'build', '*.egg-info', '.mim',
                              '__pycache__', '*.pyc', '.pytest_cache')


def _run(args, cwd, env, timeout=600):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """A wheel built from a clean copy of the project, as `pip install .` builds it (not editable)."""
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp / 'src'
    shutil.copytree(REPO, src, ignore=SKIP)
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', tmp / 'dist', src],
         cwd=tmp, env=os.environ)
    (path, ) = (tmp / 'dist').glob('m33d_mm-*.whl')
    return path


@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory):
    """A fresh virtual environment on top of this interpreter's packages, with the wheel installed in it.

    The wheel's ``m33d_mm`` comes first; the packages of the running environment are reachable through a
    ``.pth`` line (its own ``.pth`` files, e.g. an editable install of this checkout, are not processed).
    """
    root = tmp_path_factory.mktemp('venv') / 'env'
    _run([sys.executable, '-m', 'venv', '--without-pip', root], cwd=root.parent, env=os.environ)
    python = root / 'bin' / 'python'
    site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, 'shared_environment.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    _run([python, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', wheel], cwd=root.parent, env=env)
    return python, env


def test_wheel_ships_configs_tools_and_model_index(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ('m33d_mm/.mim/model-index.yml', 'm33d_mm/.mim/configs/m33d/metafile.yml',
                 'm33d_mm/.mim/configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py',
                 'm33d_mm/.mim/configs/m33d/m33d-stage1_vit-base-p16_8xb64-10e_scannet-rgbd.py',
                 'm33d_mm/.mim/configs/_base_/schedules/mae_pretrain.py', 'm33d_mm/.mim/tools/train.py',
                 'm33d_mm/.mim/tools/test.py', 'm33d_mm/.mim/tools/dist_train.sh'):
        assert name in names, name
    assert not any('__pycache__' in name for name in names)


def test_mim_lists_trains_and_tests_from_the_wheel(venv, synthetic_root, tmp_path):
    python, env = venv
    where = subprocess.run([python, '-c', 'import m33d_mm; print(m33d_mm.__file__)'], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert str(REPO) not in where and '.mim' not in where  # the installed copy, not this checkout

    listed = _run([python, '-m', 'mim', 'list'], cwd=tmp_path, env=env)
    assert re.search(r'^m33d[-_]mm +0\.1\.0\b', listed, flags=re.M), listed  # pip spells the name m33d-mm

    work_dir = tmp_path / 'work'
    options = ['model.backbone.pretrained=None', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={synthetic_root}', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    # the config by name only: mim finds it in the installed package's .mim/configs
    log = _run([python, '-m', 'mim', 'train', 'm33d_mm',
                'convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py', '--work-dir', work_dir,
                '--cfg-options', *options], cwd=tmp_path, env=env)
    assert '.mim/configs/quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py' in log
    assert (work_dir / 'iter_2.pth').is_file()
    _run([python, '-m', 'mim', 'test', 'm33d_mm',
          'convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py', '--checkpoint',
          work_dir / 'iter_2.pth', '--work-dir', work_dir, '--cfg-options', *options], cwd=tmp_path, env=env)
    assert 'mIoU' in (work_dir / 'metrics.json').read_text()


def test_a_config_elsewhere_inherits_an_installed_m33d_config(venv, tmp_path):
    python, env = venv
    (tmp_path / 'mine.py').write_text("_base_ = 'm33d_mm::m33d/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py'\n"
                                      "train_dataloader = dict(batch_size=32)\n")
    out = _run([python, '-c', 'import m33d_mm\nfrom mmengine.config import Config\n'
                'cfg = Config.fromfile("mine.py")\n'
                'print(cfg.model.type, cfg.model.neck.type, cfg.train_dataloader.batch_size, cfg.default_scope)'],
               cwd=tmp_path, env=env)
    assert 'M33D RGBDMAEDecoder 32 mmpretrain' in out
