"""The benchmark scripts run and write their figures (tiny sizes; the figures themselves are in docs/benchmarks.md)."""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_pretrain_step_image_and_video(tmp_path, run_tool):
    out = tmp_path / 'image.json'
    proc = run_tool(['tools/benchmark/pretrain_step.py', '--size', '32', '--batch', '2', '--steps', '1', '--bf16',
                     '--peak-size', '256', '--out', out])
    rows = json.loads(out.read_text())['rows']
    assert [r['precision'] for r in rows] == ['fp32', 'bf16', 'fp32', 'bf16']
    assert all(r['gflop_per_step'] > 0 and r['step_s'] > 0 for r in rows)
    assert [r['ratio_to_reference'] for r in rows if r['reference']] == [1.0, 1.0]
    assert 'process peak RSS' in proc.stdout
    out = tmp_path / 'video.json'
    run_tool(['tools/benchmark/pretrain_step.py', '--video', '--size', '64', '--frames', '4', '--batch', '2',
              '--steps', '1', '--peak-size', '256', '--out', out])
    names = [r['model'] for r in json.loads(out.read_text())['rows']]
    assert names[0].startswith('M3D video') and names[1].startswith('VideoMAE')


def test_memory_and_amp_curves(tmp_path, run_tool):
    out = tmp_path / 'memory.json'
    run_tool(['tools/benchmark/memory.py', '--batch', '2', '--size', '32', '--steps', '1', '--out', out])
    result = json.loads(out.read_text())
    assert [row['with_cp'] for row in result['rows']] == [False, True]
    out = tmp_path / 'amp.json'
    proc = run_tool(['tools/benchmark/amp_loss_curves.py', '--iters', '3', '--out', out])
    result = json.loads(out.read_text())
    assert result['iterations'] == 3 and set(result['curves']) == {'fp32', 'bf16'}
    # same seed and data: the first logged losses of both precisions are close but not bit-identical
    first = [result['curves'][k][0][1] for k in ('fp32', 'bf16')]
    assert abs(first[0] - first[1]) < 0.05 * first[0]
    assert 'largest per-iteration relative difference' in proc.stdout


def test_data_pipeline_image_and_video(tmp_path, run_tool):
    out = tmp_path / 'image.json'
    run_tool(['tools/benchmark/data_pipeline.py', '--samples', '8', '--batch', '4', '--out', out])
    assert json.loads(out.read_text())['loader_samples_per_s_per_core'] > 0
    out = tmp_path / 'video.json'
    proc = run_tool(['tools/benchmark/data_pipeline.py', '--video', '--samples', '2', '--out', out])
    result = json.loads(out.read_text())
    assert result['clips_per_s_per_core'] > 0 and 'workers' in proc.stdout


REGISTRY_DOWN = ('Could not find a version', 'No matching distribution', 'NewConnectionError', 'Network is unreachable',
                 'Temporary failure in name resolution', 'ConnectTimeout')


@pytest.fixture(scope='session')
def wheelhouse(tmp_path_factory):
    """`make gpu-wheels` into a temporary folder, once per session (pip's cache makes repeats quick)."""
    folder = tmp_path_factory.mktemp('wheelhouse')
    proc = subprocess.run(['make', '-o', 'install', 'gpu-wheels', f'PY={sys.executable}', f'WHEELHOUSE={folder}'],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and any(sign in output for sign in REGISTRY_DOWN):
        pytest.skip(f'the package registry is unreachable, so the wheelhouse cannot be downloaded: {output[-300:]}')
    assert proc.returncode == 0, output[-4000:]
    return folder, output


def test_gpu_wheels_target_downloads_resolves_and_checks_the_pin_set(wheelhouse):
    folder, output = wheelhouse
    manifest = json.loads((folder / 'manifest.json').read_text())
    names = {w.split('-')[0].lower() for w in manifest['wheels']}
    assert {'mmengine', 'mmcv_lite', 'mmpretrain', 'mmsegmentation', 'mmaction2', 'm33d_mm'} <= names
    assert manifest['total_mib'] <= 60 and manifest['python_version'] == '3.12'
    assert manifest['resolved']['mmcv-lite'] == '2.1.0' and 'm33d-mm' in manifest['resolved']
    assert 'resolved offline for Python 3.12' in output
    # the project wheel holds the package
    import zipfile
    with zipfile.ZipFile(folder / manifest['project_wheel']) as whl:
        assert 'm33d_mm/models/backbones/rgbd_vit.py' in whl.namelist()


def test_gpu_wheels_names_a_requirement_that_nothing_meets(wheelhouse, tmp_path, run_tool):
    folder, _ = wheelhouse
    copy = tmp_path / 'wheelhouse'
    shutil.copytree(folder, copy)
    lock = tmp_path / 'lock-gpu.txt'
    lines = (REPO / 'requirements' / 'lock-gpu.txt').read_text().splitlines()
    lock.write_text('\n'.join(line for line in lines if not line.startswith('addict==')) + '\n')
    proc = run_tool(['tools/benchmark/gpu_wheels.py', copy, '--lock', lock], check=False)
    assert proc.returncode != 0
    assert 'addict (neither in the wheelhouse nor provided)' in proc.stderr
    bad = tmp_path / 'bad-lock.txt'
    bad.write_text('mmengine>=0.10\n')
    proc = run_tool(['tools/benchmark/gpu_wheels.py', copy, '--lock', bad], check=False)
    assert proc.returncode != 0 and 'bad-lock.txt:1: expected "name==version"' in proc.stderr


def test_gpu_check_dry_run_exercises_every_step(wheelhouse, tmp_path, run_tool):
    folder, _ = wheelhouse
    out = tmp_path / 'out'
    start = time.time()
    proc = run_tool(['tools/benchmark/gpu_check.py', out, '--dry-run', '--wheelhouse', folder, '--quiet',
                     '--scratch', tmp_path / 'scratch', '--site', tmp_path / 'site', '--port', '29547'], check=False)
    seconds = time.time() - start
    summary = json.loads((out / 'gpu_check.json').read_text())
    steps = summary['steps']
    assert proc.returncode == 0 and summary['failed'] == [], (summary, (out / 'check.log').read_text()[-3000:])
    assert list(steps) == ['install', 'environment', 'pytest_gpu', 'train', 'pretrain_image', 'pretrain_video', 'fsdp',
                           'pretrain_image_compiled']
    assert steps['install']['pip'].startswith('Would install') and 'm33d_mm-0.1.0' in steps['install']['pip']
    assert steps['pytest_gpu']['counts']['skipped'] > 0 and 'passed' not in steps['pytest_gpu']['counts']
    train = steps['train']
    assert train['loss_last'] < train['loss_first'] and train['resumed_at_epoch'] == 1
    assert 'FSDP wrapping' in steps['fsdp']['reached']
    for name in ('pretrain_image', 'pretrain_video', 'pretrain_image_compiled'):
        assert len(steps[name]['rows']) == (1 if name.endswith('compiled') else 2)
    compiled = steps['pretrain_image_compiled']['rows']
    assert compiled['M3D image (RGB-D, eq. 7) bf16']['graph_breaks'] == 0, 'the M3D step should compile whole'
    assert 'gpu_check (dry-run' in (out / 'check.log').read_text()
    print(f'dry run took {seconds:.0f} s')


def test_gpu_check_dry_run_reports_a_missing_wheelhouse(tmp_path, run_tool):
    out = tmp_path / 'out'
    proc = run_tool(['tools/benchmark/gpu_check.py', out, '--dry-run', '--wheelhouse', tmp_path / 'none', '--quiet',
                     '--scratch', tmp_path / 'scratch', '--skip', 'environment', 'pytest_gpu', 'train',
                     'pretrain_image', 'pretrain_video', 'fsdp', 'pretrain_image_compiled'])
    install = json.loads((out / 'gpu_check.json').read_text())['steps']['install']
    assert install['status'] == 'skipped' and 'make gpu-wheels' in install['reason']
    assert proc.returncode == 0


def test_pretrain_step_counts_cpu_attention_flops():
    """torch's counter sees the CPU attention kernel as 0 FLOPs; pretrain_step counts it like the CUDA ones."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    sys.path.insert(0, str(REPO / 'tools' / 'benchmark'))
    import pretrain_step
    q = torch.randn(2, 4, 64, 32, requires_grad=True)
    counts = []
    for mapping in ({}, pretrain_step.CPU_ATTENTION_FLOPS):
        counter = FlopCounterMode(display=False, custom_mapping=mapping)
        with counter:
            torch.nn.functional.scaled_dot_product_attention(q, q, q).sum().backward()
        counts.append(counter.get_total_flops())
    forward = 2 * 2 * (2 * 4 * 64 * 64 * 32)  # q @ k^T and attn @ v
    assert counts == [0, forward * 7 // 2]  # backward: 2.5 x forward, torch's formula for the CUDA kernels
