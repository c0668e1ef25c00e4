"""Each stack fix makes its feature work; where the defect is present, the feature fails without the fix."""
import socket
import textwrap

import pytest
import torch

from m33d_mm import compat

from conftest import REPO

SNIPPETS = dict(
    torchvision_ops='import torchvision, torch\n'
    'from torchvision.transforms import functional as F\n'
    'assert F.hflip(torch.arange(6.).view(1, 2, 3))[0, 0, 0] == 2',
    mmaction_drn='import mmaction.models\n'
    'from mmaction.registry import MODELS\n'
    'assert MODELS.get("Recognizer3D") is not None',
    mmaction_multimodal='import mmaction.models\n'
    'from mmaction.registry import MODELS\n'
    'assert MODELS.get("TimeSformer") is not None',
    mmcv_ext='import mmseg.models\n'
    'from mmseg.registry import MODELS\n'
    'assert MODELS.get("EncoderDecoder") is not None',
    config_package='import os, tempfile\n'
    'from mmengine.config import Config\n'
    'path = os.path.join(tempfile.mkdtemp(), "mine.py")\n'
    'open(path, "w").write("_base_ = \'m33d_mm::quickstart/"\n'
    '                      "m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py\'\\n")\n'
    'assert Config.fromfile(path).model.type == "M33D"',
)


def run_python(code, run_tool, tmp_path, disable=None):
    """Run ``code`` after ``import m33d_mm``, with the fix named ``disable`` (a key of ``compat.FIXES``) off."""
    script = tmp_path / 'snippet.py'
    script.write_text('import m33d_mm\n' + code)
    return run_tool([script], check=False, env=dict(M33D_DISABLE_COMPAT=disable) if disable else None)


# Fixes of the runner
SNIPPETS.update(
    checkpoint_check=textwrap.dedent("""
        import os, tempfile, torch
        from mmengine.model import BaseModel
        from mmengine.runner import Runner

        class Net(BaseModel):
            def __init__(self, width):
                super().__init__()
                self.fc = torch.nn.Linear(width, 2)

            def forward(self, inputs, data_samples=None, mode='tensor'):
                return self.fc(inputs)

        work_dir = tempfile.mkdtemp()
        other = os.path.join(work_dir, 'other.pth')
        torch.save(dict(state_dict=Net(3).state_dict()), other)
        try:
            Runner(Net(4), work_dir=work_dir, load_from=other)
        except KeyError as err:
            assert f'{other} does not fit the model of this config' in str(err), err
        else:
            raise SystemExit('a runner was built to load a checkpoint of another model')
        try:
            Runner(Net(4), work_dir=work_dir, load_from=os.path.join(work_dir, 'absent.pth'), resume=True)
        except KeyError as err:
            assert 'absent.pth (load_from / --resume) does not exist' in str(err), err
        else:
            raise SystemExit('a runner was built to resume from a missing file')
    """),
    cpu_amp=textwrap.dedent("""
        import torch
        from mmengine.optim import build_optim_wrapper
        model = torch.nn.Linear(4, 2)
        wrapper = build_optim_wrapper(model, dict(type='AmpOptimWrapper', loss_scale='dynamic',
                                                  optimizer=dict(type='SGD', lr=0.1)))
        with wrapper.optim_context(model):
            loss = model(torch.ones(2, 4)).sum()
        wrapper.update_params(loss)
    """),
    # the stock mmpretrain MAE base's loader collate_fn, as the pre-training configs inherit it
    collate_fn_scope=textwrap.dedent("""
        import torch
        from mmengine.config import Config
        from mmengine.runner import Runner
        collate = Config.fromfile('configs/m33d/vitb_scannet_pretrain_stage1.py').train_dataloader.collate_fn
        assert collate == dict(type='default_collate', _scope_='mmpretrain'), collate
        data = [dict(inputs=dict(rgb=torch.zeros(3, 4, 4), depth=torch.ones(1, 4, 4))) for _ in range(2)]
        loader = Runner.build_dataloader(dict(batch_size=2, dataset=data, collate_fn=collate,
                                              sampler=dict(type='DefaultSampler', shuffle=False)))
        assert next(iter(loader))['inputs']['depth'].shape == (2, 1, 4, 4)
    """),
)


@pytest.mark.parametrize('name', sorted(SNIPPETS))
def test_fix_makes_it_work_and_is_needed(name, run_tool, tmp_path):
    with_fix = run_python(SNIPPETS[name], run_tool, tmp_path)
    assert with_fix.returncode == 0, with_fix.stderr[-2000:]
    if compat.APPLIED[name]:
        # the defect is present on this machine: with only this fix disabled the same code fails
        without = run_python(SNIPPETS[name], run_tool, tmp_path, disable=name)
        assert without.returncode != 0


def test_an_uncaught_checkpoint_error_is_one_line(run_tool, tmp_path):
    code = SNIPPETS['checkpoint_check'].split('try:')[0] + 'Runner(Net(4), work_dir=work_dir, load_from=other)\n'
    proc = run_python(code, run_tool, tmp_path)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and 'other.pth does not fit the model of this config' in last


def test_the_process_group_is_destroyed_at_exit(run_tool, tmp_path):
    # registered before m33d_mm's exit handler, so it runs after it (atexit runs in reverse order)
    script = tmp_path / 'group.py'
    script.write_text(textwrap.dedent("""
        import atexit
        import torch.distributed as dist
        atexit.register(lambda: print('at exit:', 'initialised' if dist.is_initialized() else 'destroyed'))
        import m33d_mm
        dist.init_process_group('gloo')
    """))
    env = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    proc = run_tool([script], check=False, env=env)
    assert proc.returncode == 0 and 'at exit: destroyed' in proc.stdout, proc.stderr[-2000:]
    # without the fix the group is left to interpreter shutdown, where gloo's threads can abort the process
    proc = run_tool([script], check=False, env=dict(env, MASTER_PORT=str(free_port()),
                                                      M33D_DISABLE_COMPAT='process_group_teardown'))
    assert 'at exit: initialised' in proc.stdout, proc.stderr[-2000:]


def test_disabling_an_unknown_fix_names_it(run_tool, tmp_path):
    proc = run_python('', run_tool, tmp_path, disable='no_such_fix')
    assert "M33D_DISABLE_COMPAT: unknown fixes ['no_such_fix']" in proc.stderr


def test_the_stock_mae_collate_fn_batches_the_pre_training_data_as_before(synthetic_root):
    """Our configs inherit mmpretrain's MAE loader (default_collate): same inputs after the preprocessor."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import Runner
    from m33d_mm.models import RGBDDataPreprocessor
    cfg = Config.fromfile(str(REPO / 'configs/quickstart/m33d_tiny_synthetic_stage1.py'))
    loader_cfg = cfg.train_dataloader
    loader_cfg.update(num_workers=0, batch_size=2, persistent_workers=False)
    loader_cfg.sampler.shuffle = False
    loader_cfg.dataset.data_root = str(synthetic_root)
    loader_cfg.dataset.pipeline = [dict(type='LoadRGBDFromFile', depth_scale=1000.),
                                   dict(type='RGBDResize', scale=(64, 80)), dict(type='PackRGBDInputs')]
    stacked = next(iter(Runner.build_dataloader(loader_cfg)))
    dataset = Runner.build_dataloader(loader_cfg).dataset
    listed = pseudo_collate([dataset[0], dataset[1]])
    preprocessor = RGBDDataPreprocessor()
    a, b = preprocessor(stacked)['inputs'], preprocessor(listed)['inputs']
    assert set(a) == set(b) == {'rgb', 'depth', 'valid'}
    assert set(a['valid']) == set(b['valid']) == {'depth'}
    for key in ('rgb', 'depth'):
        assert torch.equal(a[key], b[key]), key
    assert torch.equal(a['valid']['depth'], b['valid']['depth'])


def test_mmcv_stand_in_ops_raise_a_clear_error():
    if not compat.APPLIED['mmcv_ext']:
        pytest.skip('full mmcv with compiled ops is installed: no stand-in to test')
    import mmcv._ext as ext
    with pytest.raises(RuntimeError, match='mmcv op "nms" needs the compiled mmcv._ext'):
        ext.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
    assert ext.__spec__.loader is None


def test_mmengine_checkpoints_with_history_buffers_load(tmp_path):
    from mmengine.logging import HistoryBuffer
    from mmengine.runner import CheckpointLoader
    path = tmp_path / 'ckpt.pth'
    history = HistoryBuffer()
    history.update(1.0)
    torch.save(dict(state_dict=dict(w=torch.ones(2)), message_hub=dict(loss=history)), path)
    loaded = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_distributed_init_and_ddp_on_cpu(run_tool, tmp_path):
    code = textwrap.dedent("""
        import torch
        from mmengine.dist import init_dist, get_world_size
        from mmengine.model import MMDistributedDataParallel
        init_dist('pytorch', backend='nccl')
        model = MMDistributedDataParallel(torch.nn.Linear(2, 2), device_ids=[0])
        model(torch.ones(1, 2)).sum().backward()
        print('world', get_world_size())
    """)
    script = tmp_path / 'dist.py'
    script.write_text('import m33d_mm\n' + code)
    env = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    proc = run_tool([script], check=False, env=env)
    if torch.cuda.is_available():
        return
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'world 1' in proc.stdout


def test_apply_is_idempotent():
    first = compat.apply()
    assert compat.apply() == first
    assert set(first) == set(compat.FIXES)
