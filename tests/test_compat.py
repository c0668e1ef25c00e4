"""Each stack fix makes its feature work; where the defect is present, the feature fails without the fix."""
import socket
import textwrap

import pytest
import torch

from m33d_mm import compat

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


def run_python(code, run_tool, tmp_path, disable=False):
    script = tmp_path / 'snippet.py'
    header = '' if disable else 'import m33d_mm\n'
    script.write_text(header + code)
    return run_tool([script], check=False, env=dict(M33D_DISABLE_COMPAT='1') if disable else None)


@pytest.mark.parametrize('name', sorted(SNIPPETS))
def test_fix_makes_import_work_and_is_needed(name, run_tool, tmp_path):
    with_fix = run_python(SNIPPETS[name], run_tool, tmp_path)
    assert with_fix.returncode == 0, with_fix.stderr[-2000:]
    if compat.APPLIED[name]:
        # the defect is present on this machine: without the fix the same code fails
        without = run_python(SNIPPETS[name], run_tool, tmp_path, disable=True)
        assert without.returncode != 0


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
