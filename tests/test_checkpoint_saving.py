"""A kill while a checkpoint is written loses nothing; --resume finds the newest complete checkpoint."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from m33d_mm.engine.checkpoint import is_complete_checkpoint, latest_checkpoint, write_last_checkpoint

REPO = Path(__file__).resolve().parents[1]
STAGE2 = 'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py'

# tools/train.py whose file writes of epoch_2 stop half-way (and signal it) until the process is killed.
SLOW_SAVE = textwrap.dedent('''
    import os, runpy, sys, time
    import m33d_mm
    from mmengine.fileio.backends import local_backend

    original = local_backend.LocalBackend.put

    def put(self, obj, filepath):
        if os.path.basename(str(filepath)).startswith('epoch_2'):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
            open(os.environ['SAVING_MARKER'], 'w').close()
            time.sleep(300)
        return original(self, obj, filepath)

    local_backend.LocalBackend.put = put
    sys.argv = ['tools/train.py'] + sys.argv[1:]
    runpy.run_path('tools/train.py', run_name='__main__')
''')


def options(data_root, epochs):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=4',
            'train_dataloader.num_workers=0', f'train_cfg.max_epochs={epochs}', 'model.backbone.pretrained=None',
            'default_hooks.checkpoint.max_keep_ckpts=1']


def test_a_kill_while_saving_keeps_the_previous_checkpoint_and_resume_falls_back(synthetic_root, tmp_path):
    script, marker, work = tmp_path / 'slow_save.py', tmp_path / 'saving', tmp_path / 'work'
    script.write_text(SLOW_SAVE)
    env = dict(os.environ, SAVING_MARKER=str(marker), PYTHONUNBUFFERED='1')
    log = tmp_path / 'train.log'
    proc = subprocess.Popen([sys.executable, str(script), STAGE2, '--work-dir', str(work)] + options(synthetic_root, 3),
                            cwd=REPO, env=env, stdout=log.open('w'), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, 'the second checkpoint was not started within 300 s'
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    # max_keep_ckpts=1: the previous checkpoint is deleted only once the new one is complete
    assert is_complete_checkpoint(str(work / 'epoch_1.pth'))
    assert not (work / 'epoch_2.pth').exists() and (work / 'epoch_2.pth.tmp').is_file()
    assert (work / 'last_checkpoint').read_text() == 'epoch_1.pth'

    # a pointer naming a damaged file (as left by an older writer) falls back to the newest complete checkpoint
    (work / 'epoch_5.pth').write_bytes((work / 'epoch_1.pth').read_bytes()[:1000])
    (work / 'last_checkpoint').write_text(str(work / 'epoch_5.pth'))
    resumed = subprocess.run([sys.executable, 'tools/train.py', STAGE2, '--work-dir', str(work), '--resume']
                             + options(synthetic_root, 2), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert (f'names {work}/epoch_5.pth, which is incomplete (truncated or damaged); resuming from the newest '
            f'complete checkpoint {work}/epoch_1.pth instead') in resumed.stdout
    assert 'resumed epoch: 1, iter: 3' in resumed.stdout
    assert is_complete_checkpoint(str(work / 'epoch_2.pth')) and not (work / 'epoch_1.pth').exists()
    assert (work / 'last_checkpoint').read_text() == 'epoch_2.pth'


def save(path: Path):
    torch.save(dict(state_dict=dict(w=torch.ones(2)), meta=dict(iter=1)), path)
    return path


def test_latest_checkpoint_follows_a_relative_pointer_and_falls_back_when_it_is_unusable(tmp_path):
    assert latest_checkpoint(str(tmp_path)) is None
    old, new = save(tmp_path / 'epoch_1.pth'), save(tmp_path / 'epoch_2.pth')
    os.utime(old, (1, 1))
    save(tmp_path / 'best_loss_epoch_3.pth')  # best checkpoints hold no optimiser state: never resumed from
    write_last_checkpoint(str(tmp_path), str(old))
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_1.pth'
    assert latest_checkpoint(str(tmp_path)) == str(old)

    (tmp_path / 'last_checkpoint').write_text('')  # a pointer emptied by a kill while mmengine rewrote it
    assert latest_checkpoint(str(tmp_path)) == str(new)
    (tmp_path / 'last_checkpoint').write_text('epoch_9.pth')
    assert latest_checkpoint(str(tmp_path)) == str(new)
    (tmp_path / 'last_checkpoint').unlink()
    assert latest_checkpoint(str(tmp_path)) == str(new)
    new.write_bytes(b'')
    assert latest_checkpoint(str(tmp_path)) == str(old)


def test_a_copied_work_dir_resumes_from_its_own_files(tmp_path):
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    original.mkdir(), copy.mkdir()
    save(original / 'epoch_1.pth'), save(copy / 'epoch_1.pth')
    # mmengine's own pointer: an absolute path into the original directory
    (copy / 'last_checkpoint').write_text(str(original / 'epoch_1.pth'))
    assert latest_checkpoint(str(copy)) == str(copy / 'epoch_1.pth')
    write_last_checkpoint(str(original), str(original / 'epoch_1.pth'))
    (copy / 'last_checkpoint').write_bytes((original / 'last_checkpoint').read_bytes())
    assert latest_checkpoint(str(copy)) == str(copy / 'epoch_1.pth')
