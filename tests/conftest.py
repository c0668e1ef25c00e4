"""Shared fixtures. Importing m33d_mm first applies the stack fixes, as every entry point does."""
import os
import subprocess
import sys
from pathlib import Path

import m33d_mm  # noqa: F401
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


@pytest.fixture(autouse=True)
def isolated_default_scope():
    """Every test starts in mmpretrain's scope and cannot leave another (e.g. mmseg's) to later tests."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """A small synthetic RGB-D export (4 scenes x 4 frames, 64 x 80), generated once per session."""
    from m33d_mm.synthetic.scenes import generate_dataset
    root = tmp_path_factory.mktemp('synthetic_rgbd')
    generate_dataset(root, num_scenes=4, frames_per_scene=4, height=64, width=80, seed=0, val_scenes=1)
    return root


def _run_tool(args, cwd=REPO, timeout=600, check=True, env=None):
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run([sys.executable] + [str(a) for a in args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed with {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}')
    return proc


@pytest.fixture
def run_tool():
    """Run a repository script with the test interpreter: ``run_tool([script, *args], check=True)``."""
    return _run_tool
