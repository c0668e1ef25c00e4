"""The package layering of ``.importlinter`` holds, and the check would catch a change that breaks it.

``lint-imports`` reads every import statement (function-level ones too); the import-time tests below also cover
imports made with :mod:`importlib`, which a static check cannot see.
"""
import os
import shutil
import subprocess
import sys

from conftest import REPO

CONFIG = REPO / '.importlinter'
LINT = ('import sys; from importlinter.cli import lint_imports_command; '
        'sys.argv[0] = "lint-imports"; lint_imports_command()')


def _lint(root):
    """``lint-imports`` on the ``m33d_mm`` package under ``root`` (first on the path), without a cache."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get('PYTHONPATH', '')]))
    return subprocess.run([sys.executable, '-c', LINT, '--config', str(CONFIG), '--no-cache'], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def _imported(code):
    """The ``m33d_mm`` / mmseg / mmaction modules a fresh interpreter holds after running ``code``."""
    probe = (f'{code}\nimport sys\n'
             "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('m33d_mm', 'mmseg', 'mmaction')))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, '-c', probe], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(proc.stdout.split())


def test_the_tree_keeps_the_import_contracts():
    proc = _lint(REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert '0 broken' in proc.stdout


def _lint_copy_with(tmp_path, module, added):
    """``lint-imports`` on a copy of the package in which ``module`` (a path under m33d_mm/) ends in ``added``."""
    shutil.copytree(REPO / 'm33d_mm', tmp_path / 'm33d_mm', ignore=shutil.ignore_patterns('.mim', '__pycache__'))
    path = tmp_path / 'm33d_mm' / module
    path.write_text(path.read_text() + added)
    proc = _lint(tmp_path)
    assert proc.returncode != 0, proc.stdout[-3000:]
    return proc.stdout


def test_the_check_fails_on_a_plugin_importing_the_other(tmp_path):
    out = _lint_copy_with(tmp_path, 'action/datasets.py',
                          '\nfrom ..segmentation.datasets import select_subset  # noqa: E402,F811\n')
    assert 'The mmseg and mmaction2 plug-ins do not import each other BROKEN' in ' '.join(out.split())
    assert 'm33d_mm.action.datasets -> m33d_mm.segmentation.datasets' in out


def test_the_check_fails_on_a_model_module_importing_a_plugin(tmp_path):
    # a function-level import counts as much as one at the top
    late_import = '\n\ndef _late():\n    from m33d_mm.action import heads  # noqa\n'
    out = _lint_copy_with(tmp_path, 'models/utils.py', late_import)
    assert 'm33d_mm.models is not allowed to import m33d_mm.action' in out


def test_importing_one_plugin_loads_neither_the_other_nor_its_framework():
    action = _imported('import m33d_mm.action')
    assert 'm33d_mm.action' in action
    assert not {m for m in action if m.startswith(('mmseg', 'm33d_mm.segmentation'))}, sorted(action)
    segmentation = _imported('import m33d_mm.segmentation')
    assert not {m for m in segmentation if m.startswith('m33d_mm.action')}, sorted(segmentation)
    # compat's mmaction2 stand-ins sit in sys.modules without importing mmaction2's models or datasets
    core = _imported('import m33d_mm.models, m33d_mm.datasets, m33d_mm.engine, m33d_mm.synthetic')
    assert not {m for m in core if m.startswith(('mmseg', 'mmaction.datasets', 'mmaction.models.recognizers',
                                                  'm33d_mm.segmentation', 'm33d_mm.action'))}, sorted(core)
