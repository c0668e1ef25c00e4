"""Third-party weights are never unpickled: torch.load(weights_only=True) everywhere but the trusted resume path."""
import ast
import importlib.util
from pathlib import Path

import pytest
import torch

from m33d_mm.models import RGBDViT
from m33d_mm.tools import model_converters as converters
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
    'converters.load_rgb_encoder': lambda path: converters.load_rgb_encoder(str(path)),
    'converters.load_video_encoder': lambda path: converters.load_video_encoder(str(path)),
}


@pytest.mark.parametrize('loader', sorted(LOADERS))
def test_a_malicious_pickle_is_refused_without_running(malicious, loader):
    path, marker = malicious
    with pytest.raises(CheckpointMismatchError, match=r'(?s)mae_pretrain_vit_base\.pth cannot be loaded as a plain '
                       r'weights file \(UnpicklingError: .*weights_only=True'):
        LOADERS[loader](path)
    assert not marker.exists()


def test_the_trusted_load_runs_only_for_files_the_user_named(malicious, monkeypatch):
    from m33d_mm.models.checkpoint import TRUST_ENV, load_checkpoint_file
    path, marker = malicious
    with pytest.raises(CheckpointMismatchError, match=f'If you trust this file, opt in with --trust-checkpoint '
                       f'{path} .*or {TRUST_ENV}={path}'):
        load_checkpoint_file(str(path))
    assert not marker.exists()
    monkeypatch.setenv(TRUST_ENV, str(path))
    load_checkpoint_file(str(path))
    assert marker.exists()


class RawPayload:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return open, (self.target, 'w')


@pytest.fixture
def raw_pickle(tmp_path):
    """A plain pickle (not a torch.save archive) whose unpickling creates a file."""
    import pickle
    marker, path = tmp_path / 'pwned_raw', tmp_path / 'raw.pkl'
    path.write_bytes(pickle.dumps(dict(state_dict=dict(w=RawPayload(marker))), protocol=2))
    return path, marker


def test_stock_mmengine_loads_stay_weights_only_after_importing_the_package(malicious, raw_pickle, tmp_path):
    from mmengine.model.weight_init import PretrainedInit
    from mmengine.runner import CheckpointLoader
    for path, marker in (malicious, raw_pickle):
        with pytest.raises(CheckpointMismatchError, match=f'{path} cannot be loaded as a plain weights file'):
            CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
        with pytest.raises(CheckpointMismatchError, match=f'{path} cannot be loaded'):
            PretrainedInit(checkpoint=str(path))(torch.nn.Linear(2, 2))  # init_cfg=dict(type='Pretrained', ...)
        assert not marker.exists()


def test_a_config_stored_in_a_checkpoint_is_dropped_not_run(tmp_path):
    from m33d_mm.models.checkpoint import load_checkpoint_file
    marker = tmp_path / 'pwned_config'
    # mmengine's resume parses meta['config'] with Config.fromstring, which runs it as Python
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1, iter=3, config=f'open({str(marker)!r}, "w")\n'), state_dict={}), path)
    checkpoint = load_checkpoint_file(str(path))
    assert 'config' not in checkpoint['meta'] and checkpoint['meta']['iter'] == 3


def not_checkpoints(tmp_path):
    import pickle

    import cv2
    import numpy as np
    files = {'random.pth': np.random.default_rng(0).bytes(4096), 'empty.pth': b'',
             'list.pth': pickle.dumps([1, 2, 3], protocol=2)}
    ok, jpeg = cv2.imencode('.jpg', np.zeros((8, 8, 3), np.uint8))
    files['photo.jpg'] = jpeg.tobytes()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / name for name in files]


def test_files_that_are_not_checkpoints_give_one_line_naming_the_file(tmp_path):
    from m33d_mm.models.checkpoint import load_checkpoint_file
    torch.save([torch.ones(1)], tmp_path / 'tensor_list.pth')
    for path in not_checkpoints(tmp_path) + [tmp_path / 'tensor_list.pth']:
        with pytest.raises(CheckpointMismatchError) as info:
            load_checkpoint_file(str(path))
        message = str(info.value)
        assert message.startswith(f'{path} is not a checkpoint') and '\n' not in message, message
        assert 'expected' in message


def train(run_tool, config, work_dir, *options, data_root=None):
    args = ['tools/train.py', config, '--work-dir', work_dir]
    options = list(options) + ['model.backbone.pretrained=None'] * (not any('pretrained' in o for o in options))
    if data_root is not None:
        options += [f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.num_workers=0']
    return run_tool(args + ['--cfg-options'] + options, check=False)


def one_line_error(proc, expected):
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and expected in last, proc.stderr[-3000:]


STAGE2 = 'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py'
SEG = 'configs/quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py'


def test_payloads_never_run_through_resume_load_from_or_a_pretrained_work_dir(malicious, raw_pickle, tmp_path,
                                                                               synthetic_root, run_tool):
    payload, marker = malicious
    raw, raw_marker = raw_pickle
    resume = run_tool(['tools/train.py', STAGE2, '--work-dir', tmp_path / 'a', '--resume', payload,
                       '--cfg-options', 'model.backbone.pretrained=None'], check=False)
    one_line_error(resume, f'{payload} cannot be loaded as a plain weights file')
    assert '--trust-checkpoint' in resume.stderr
    one_line_error(train(run_tool, SEG, tmp_path / 'b', f'load_from={raw}'), f'{raw} cannot be loaded')
    one_line_error(train(run_tool, STAGE2, tmp_path / 'c', f'load_from={raw}'), f'{raw} cannot be loaded')
    work = tmp_path / 'pretrain_run'
    work.mkdir()
    (work / 'epoch_1.pth').write_bytes(payload.read_bytes())
    (work / 'last_checkpoint').write_text('epoch_1.pth')
    one_line_error(train(run_tool, STAGE2, tmp_path / 'd', f'model.backbone.pretrained={work}',
                         data_root=synthetic_root), f'{work}/epoch_1.pth cannot be loaded')
    assert not marker.exists() and not raw_marker.exists()


def test_non_checkpoints_through_the_tools_end_in_one_line(tmp_path, synthetic_root, run_tool):
    random_bytes, empty, pickled_list, jpeg = not_checkpoints(tmp_path)
    resume = run_tool(['tools/train.py', STAGE2, '--work-dir', tmp_path / 'a', '--resume', random_bytes,
                       '--cfg-options', 'model.backbone.pretrained=None'], check=False)
    one_line_error(resume, f'{random_bytes} is not a checkpoint file')
    one_line_error(train(run_tool, SEG, tmp_path / 'b', f'load_from={pickled_list}'),
                   f'{pickled_list} is not a checkpoint file')
    torch.save([torch.ones(1)], tmp_path / 'saved_list.pth')
    one_line_error(train(run_tool, STAGE2, tmp_path / 'e', f'load_from={tmp_path}/saved_list.pth'),
                   f'{tmp_path}/saved_list.pth is not a checkpoint: it holds a list')
    one_line_error(train(run_tool, STAGE2, tmp_path / 'c', f'model.backbone.pretrained={jpeg}',
                         data_root=synthetic_root), f'{jpeg} is not a checkpoint file')
    one_line_error(run_tool(['tools/test.py', SEG, empty, '--work-dir', tmp_path / 'd'], check=False),
                   f'{empty} is not a checkpoint file')


@pytest.fixture
def http_server(tmp_path):
    """Serves ``tmp_path/served`` on 127.0.0.1 for the test."""
    import functools
    import http.server
    import threading
    served = tmp_path / 'served'
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_pretrained_accepts_an_http_url_and_still_loads_safely(http_server, malicious):
    served, url = http_server
    source = RGBDViT(arch=TINY, patch_size=8)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in source.state_dict().items()}), served / 'enc.pth')
    vit = RGBDViT(arch=TINY, patch_size=8, pretrained=f'{url}/enc.pth')
    vit.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(vit.state_dict()[key], value), key
    path, marker = malicious
    (served / 'bad.pth').write_bytes(path.read_bytes())
    with pytest.raises(CheckpointMismatchError, match=f'{url}/bad.pth cannot be loaded as a plain weights file'):
        RGBDViT(arch=TINY, patch_size=8, pretrained=f'{url}/bad.pth').init_weights()
    assert not marker.exists()
    with pytest.raises(CheckpointMismatchError, match=f'{url}/missing.pth: cannot download the checkpoint'):
        RGBDViT(arch=TINY, patch_size=8, pretrained=f'{url}/missing.pth').init_weights()
