"""Third-party weights are never unpickled: torch.load(weights_only=True) everywhere but the trusted resume path."""
import ast
import importlib.util
from pathlib import Path

import pytest
import torch

from m33d_mm.models import RGBDViT
from m33d_mm.models.checkpoint import CheckpointMismatchError

REPO = Path(__file__).resolve().parents[1]
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
# (file, enclosing function) allowed to unpickle, each with a comment saying why: the explicit opt-in for a file
# the user trusts (--trust-checkpoint / M33D_TRUSTED_CHECKPOINTS); every other load is weights_only=True.
TRUSTED_LOADS = {('m33d_mm/models/checkpoint.py', 'load_checkpoint_file')}


def python_files():
    return sorted(p for folder in ('m33d_mm', 'tools') for p in (REPO / folder).rglob('*.py'))


class UnsafeLoadFinder(ast.NodeVisitor):
    """Collects ``(innermost function, line)`` of every load that can unpickle arbitrary objects."""

    def __init__(self):
        self.stack, self.found = ['<module>'], []

    def visit_FunctionDef(self, node):
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ImportFrom(self, node):
        # `from torch import load` would hide the calls from the checks below.
        if node.module in ('torch', 'pickle') and any(a.name in ('load', 'loads') for a in node.names):
            self.found.append((self.stack[-1], node.lineno))

    def visit_Call(self, node):
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            owner, name = node.func.value.id, node.func.attr
            keywords = {k.arg: k.value for k in node.keywords}

            def is_true(key):
                return isinstance(keywords.get(key), ast.Constant) and keywords[key].value is True

            if ((owner == 'torch' and name == 'load' and not is_true('weights_only'))
                    or (owner in ('pickle', 'dill', 'joblib') and name in ('load', 'loads'))
                    or (owner in ('np', 'numpy') and name == 'load' and is_true('allow_pickle'))):
                self.found.append((self.stack[-1], node.lineno))
        self.generic_visit(node)


def unsafe_loads(path: Path):
    finder = UnsafeLoadFinder()
    finder.visit(ast.parse(path.read_text(), str(path)))
    return finder.found


def test_every_unpickling_load_is_weights_only_or_a_commented_trusted_path():
    offenders, trusted_seen = [], set()
    for path in python_files():
        rel = str(path.relative_to(REPO))
        lines = path.read_text().splitlines()
        for function, line in sorted(unsafe_loads(path)):
            if (rel, function) not in TRUSTED_LOADS:
                offenders.append(f'{rel}:{line} in {function}()')
                continue
            trusted_seen.add((rel, function))
            comment = ' '.join(lines[max(0, line - 4):line - 1])
            assert '#' in comment and 'trust' in comment, f'{rel}:{line}: the trusted load needs a comment saying why'
    assert not offenders, 'loads that can unpickle arbitrary objects (use load_weights_file): ' + ', '.join(offenders)
    # The scan sees the loads it must see: the allow-listed one and the safe loader's weights_only=True call.
    assert trusted_seen == TRUSTED_LOADS
    assert 'weights_only=True' in (REPO / 'm33d_mm/models/checkpoint.py').read_text()


def test_the_scan_flags_unsafe_loads(tmp_path):
    source = tmp_path / 'sample.py'
    source.write_text('import torch, pickle, numpy as np\n'
                      'from torch import load\n'
                      'def ok(p):\n    return torch.load(p, map_location="cpu", weights_only=True)\n'
                      'def bad(p):\n    return torch.load(p), torch.load(p, weights_only=False)\n'
                      'def worse(p):\n    return pickle.loads(p), np.load(p, allow_pickle=True), np.load(p)\n')
    assert sorted(unsafe_loads(source)) == [('<module>', 2), ('bad', 6), ('bad', 6), ('worse', 8), ('worse', 8)]


class WritesAFile:
    """Unpickling this object opens (creates) ``target``: what a malicious checkpoint would do."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return open, (self.target, 'w')


@pytest.fixture
def malicious(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'mae_pretrain_vit_base.pth'
    torch.save(dict(model={'blocks.0.norm1.weight': torch.ones(32), 'payload': WritesAFile(marker)}), path)
    # The payload is real: a full unpickle runs it.
    torch.load(path, weights_only=False)
    assert marker.is_file()
    marker.unlink()
    return path, marker


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f'_safe_{name}', REPO / 'tools/model_converters' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOADERS = {
    'RGBDViT(pretrained=...)': lambda path: RGBDViT(arch=TINY, patch_size=8, pretrained=str(path)).init_weights(),
    'mae_to_m33d.convert': lambda path: load_tool('mae_to_m33d').convert(str(path), dict(rgb=3, depth=1)),
    'm33d_to_mmpretrain_vit.load_rgb_encoder': lambda path: load_tool('m33d_to_mmpretrain_vit').load_rgb_encoder(
        str(path)),
    'm33d_to_mmaction_vit.load_video_encoder': lambda path: load_tool('m33d_to_mmaction_vit').load_video_encoder(
        str(path)),
}


@pytest.mark.parametrize('loader', sorted(LOADERS))
def test_a_malicious_pickle_is_refused_without_running(malicious, loader):
    path, marker = malicious
    with pytest.raises(CheckpointMismatchError, match=r'(?s)mae_pretrain_vit_base\.pth cannot be loaded as a plain '
                       r'weights file \(UnpicklingError: .*weights_only=True'):
        LOADERS[loader](path)
    assert not marker.exists()
