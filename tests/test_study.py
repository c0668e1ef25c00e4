"""The benchmark study: smoke run end to end, resumable, and the fixes of the earlier study's defects."""
import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'tools/experiments/benchmark_study.py'


@pytest.fixture(scope='module')
def study():
    spec = importlib.util.spec_from_file_location('benchmark_study', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_study_smoke_run_and_resume(tmp_path, run_tool):
    out = tmp_path / 'study'
    args = ['tools/experiments/benchmark_study.py', '--smoke', '--out', out, '--arms', 'rgb2depth', '--jobs', '2']
    proc = run_tool(args, timeout=1200)
    assert ', 0 failed' in proc.stdout
    probes = {p.stem: json.loads(p.read_text()) for p in (out / 'probes').glob('*.json')}
    assert sorted(probes) == ['position_only_s0', 'rgb2depth_s0']
    for name, result in probes.items():
        key = 'position' if name.startswith('position') else 'last'
        for fraction, r in result['probes'][key].items():
            assert 0 <= r['mIoU'] <= 100 and r['rel_depth_rmse'] > 0
            assert set(r['per_class']) == {'wall', 'floor', 'sphere', 'disc', 'cube', 'panel'}
    # the lr budget of the pre-training is recorded, and the RGB-D arm has the cross-modal probe
    control = probes['rgb2depth_s0']
    assert control['pretraining']['lr_sum_over_peak'] > 0 and control['pretraining']['iters'] == 4
    assert set(control['cross_modal']) >= {'rgb_only', 'nothing', 'training_masks'}
    finetunes = sorted((out / 'finetune').glob('*/result.json'))
    assert len(finetunes) == 1
    assert all(0 <= json.loads(p.read_text())['test_mIoU'] <= 100 for p in finetunes)
    assert '| rgb2depth |' in proc.stdout and (out / 'results.png').is_file()
    assert 'Validity rule: not evaluable yet' in proc.stdout

    # a second run finds everything done: nothing is trained again and the tables are the same
    before = {p: p.stat().st_mtime for p in out.rglob('*.json')}
    again = run_tool(args)
    assert 'start ' not in again.stdout
    assert {p: p.stat().st_mtime for p in out.rglob('*.json') if p in before} == before
    assert (out / 'results.md').read_text().split('Command')[0] in again.stdout


def test_jobs_run_single_threaded(study, tmp_path):
    """Every job gets one thread: torch's default on a loaded machine oversubscribes the cores."""
    log = tmp_path / 'threads.log'
    job = study.Job('threads', str(tmp_path / 'never'), [[sys.executable, '-c',
                                                          'import torch; print("threads", torch.get_num_threads())']],
                    log=str(log))
    assert study.run_jobs([job], 2, lambda: True) == []
    assert 'threads 1' in log.read_text()
    assert study.single_thread_env()['OMP_NUM_THREADS'] == '1'


def test_two_stage_and_one_stage_arms_get_the_same_lr_budget(study, tmp_path):
    """The study's arms span their own runs: a 1/4 + 3/4 two-stage arm sums lr / peak like a one-stage arm."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS

    def budget(config, iters):
        cfg = Config.fromfile(REPO / config)
        warmup = max(1, iters // 20)
        schedulers = [dict(s) for s in cfg.param_scheduler]
        schedulers[0]['end'], schedulers[1]['begin'] = warmup, warmup
        schedulers[1].setdefault('end', iters)  # what the runner fills in from train_cfg.max_iters
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        wrapper = OptimWrapper(optimizer)
        built = [PARAM_SCHEDULERS.build(s, default_args=dict(optimizer=wrapper)) for s in schedulers]
        total = 0.0
        for _ in range(iters):
            total += optimizer.param_groups[0]['lr']
            for s in built:
                s.step()
        return total

    one = budget(study.STAGE2, 1000)
    two = budget(study.STAGE1, 250) + budget(study.STAGE2, 750)
    mae = budget(study.MAE, 1000)
    assert abs(two - one) / one < 0.03 and abs(mae - one) / one < 0.01
    assert 450 < one < 520


def test_finetuning_recipe_per_arm(study, tmp_path):
    """Layer-wise lr decay only for pre-trained encoders; lr from the arm's own options."""
    setup = study.SMOKE
    scratch = study.finetune_job(setup, str(tmp_path), 'scratch', 0, 0.1, 3e-3, [])
    trained = study.finetune_job(setup, str(tmp_path), 'm33d', 0, 0.1, 3e-4, [])
    assert 'optim_wrapper.paramwise_cfg.layer_decay_rate=1.0' in scratch.commands[0]
    assert not any('layer_decay_rate' in o for o in trained.commands[0])
    assert 'optim_wrapper.optimizer.lr=0.003' in scratch.commands[0]
    assert 'model.backbone.pretrained=None' in scratch.commands[0]


def test_lr_is_chosen_on_val_and_applied_to_every_seed(study):
    setup = dict(study.FULL, seeds=(0, 1), finetune_fractions=(0.1, ), finetune_lrs=(3e-4, 1e-3))
    runs = {'a': {(0, 0.1, 3e-4): dict(lr=3e-4, val_mIoU=30, test_mIoU=10),
                  (0, 0.1, 1e-3): dict(lr=1e-3, val_mIoU=40, test_mIoU=5),
                  (1, 0.1, 1e-3): dict(lr=1e-3, val_mIoU=41, test_mIoU=7),
                  (1, 0.1, 3e-4): dict(lr=3e-4, val_mIoU=1, test_mIoU=99)}}
    lr, chosen = study.chosen_finetunes(runs, setup)[('a', 0.1)]
    assert lr == 1e-3 and sorted(r['test_mIoU'] for r in chosen) == [5, 7]  # chosen by val, never by test


def test_miou_over_the_benchmark_classes_only(study):
    """mmseg's IoUMetric scores 0 for a class absent from the ground truth but predicted; the study's mIoU
    covers the fixed list of classes present in the test split."""
    from mmseg.evaluation import IoUMetric
    target = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 1, 1, 2, 5])  # one pixel predicted as a class the split does not have
    inter, union, area_pred, area_label = IoUMetric.intersect_and_union(pred, target, 6, 255)
    stock = IoUMetric.total_area_to_metrics(inter, union, area_pred, area_label, ['mIoU'])['IoU']
    stock_miou = float(np.nanmean(stock)) * 100
    miou, per_class = study.benchmark_miou(pred, target)
    assert per_class[5] != per_class[5]  # nan: not in the list
    assert miou == pytest.approx((100 + 100 + 50) / 3)
    assert stock_miou < miou - 10  # the stock metric counted the absent class as 0
    # the fine-tuning config's head predicts exactly the six benchmark classes
    cfg = Config.fromfile(REPO / study.SEG)
    assert cfg.model.decode_head.num_classes == 6


def test_depth_probe_targets_are_relative(study):
    """Per-image standardised depth: scaling a frame's depth (metric change) leaves the targets unchanged."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (2, 16, 16, 3)).astype(np.uint8)
    depth = rng.uniform(1, 5, (2, 16, 16)).astype(np.float32)
    label = np.full((2, 16, 16), 1, np.uint8)
    _, rel, valid, classes = study.patch_targets(rgb, depth, label)
    _, rel_scaled, _, _ = study.patch_targets(rgb, depth * 3 + 1, label)
    assert torch.allclose(rel, rel_scaled, atol=1e-4) and valid.all() and (classes == 0).all()
    assert abs(rel.mean().item()) < 0.2


def test_pair_accuracy_is_within_the_pair(study):
    target = torch.tensor([2, 2, 3, 3, 0])
    pred = torch.tensor([2, 3, 3, 0, 2])
    # patches of sphere/disc predicted as sphere or disc: 3, of which 2 right
    assert study.pair_accuracy(pred, target, 2, 3) == pytest.approx(200 / 3)


@pytest.mark.parametrize('arm', ['m33d_dirichlet', 'm33d_cross_modal', 'rgb2depth', 'rgb2depth_no_depth'])
def test_arm_options_build_the_intended_model(study, arm):
    from mmpretrain.registry import MODELS
    import m33d_mm.models  # noqa: F401
    config, options, _ = study.ARMS[arm][-1]
    cfg = Config.fromfile(REPO / config)
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)  # as tools/train.py reads them
    cfg.merge_from_dict(parser.parse_args(['--cfg-options'] + options).cfg_options)
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    backbone = model.backbone
    if arm == 'm33d_dirichlet':
        assert backbone.masking == dict(type='dirichlet', alpha=1.0)
    elif arm == 'm33d_cross_modal':
        assert backbone.masking == dict(type='cross_modal', hide='depth', hide_fraction=0.5)
    else:
        assert backbone.mask_ratio == dict(rgb=0.5, depth=0.99)
        assert model.loss_weights['depth'] == (0.0 if arm.endswith('no_depth') else 1.0)


def test_negative_control_pairs_every_frame_with_another_frame_s_depth(study, tmp_path):
    study.prepare_data(dict(study.SMOKE, unlabelled=10, labelled=2, val=2, test=2), str(tmp_path))
    names = (tmp_path / 'data_shuffled' / 'splits' / 'unlabelled.txt').read_text().split()
    partners = [os.readlink(tmp_path / 'data_shuffled' / n / 'depth').split(os.sep)[-2] for n in names]
    colors = [os.readlink(tmp_path / 'data_shuffled' / n / 'color').split(os.sep)[-2] for n in names]
    assert colors == names and sorted(partners) == sorted(names)
    assert all(p != n for p, n in zip(partners, names))


def test_validity_rule(study):
    def probe(value):
        return dict(probes=dict(last={'0.1': dict(mIoU=value)}))

    setup = dict(study.FULL)
    passing = dict(rgb2depth=[probe(21.0), probe(21.4)], scratch=[probe(15.6), probe(16.0)])
    failing = dict(rgb2depth=[probe(17.0), probe(19.0)], scratch=[probe(15.6), probe(16.0)])
    assert 'COUNTS' in study.validity(passing, setup)
    assert 'does NOT count' in study.validity(failing, setup)
    assert 'not evaluable yet' in study.validity(dict(rgb2depth=[probe(21.0)]), setup)


def test_a_finished_training_is_not_redone_when_its_bookkeeping_was_interrupted(study, tmp_path):
    trained = tmp_path / 'iter_4.pth'
    trained.write_text('')
    marks = []
    job = study.Job('resumed', str(tmp_path / 'done.json'), [[sys.executable, '-c', 'raise SystemExit(3)']],
                    after=lambda: marks.append('after'), trained=str(trained), log=str(tmp_path / 'x.log'))
    assert study.run_jobs([job], 1, lambda: True) == [] and marks == ['after']
    assert not (tmp_path / 'x.log').exists()  # the command never ran


def test_stopping_the_study_stops_its_jobs(tmp_path):
    """SIGTERM to the study ends the jobs it started, so a restart never runs a job twice at once."""
    import signal
    import subprocess
    import time
    out = tmp_path / 'study'
    marker = tmp_path / 'child.pid'
    code = (f'import importlib.util, sys, signal; sys.argv = ["x"]; '
            f'spec = importlib.util.spec_from_file_location("s", "{SCRIPT}"); m = importlib.util.module_from_spec(spec); '
            f'spec.loader.exec_module(m); signal.signal(signal.SIGTERM, lambda *_: sys.exit(143)); '
            f'job = m.Job("sleep", "{out}/never", [[sys.executable, "-c", '
            f'"import os, time; open(\'{marker}\', \'w\').write(str(os.getpid())); time.sleep(60)"]], log="{out}/x.log"); '
            f'm.run_jobs([job], 1, lambda: True)')
    proc = subprocess.Popen([sys.executable, '-c', code], cwd=REPO)
    for _ in range(100):
        if marker.is_file() and marker.read_text():
            break
        time.sleep(0.2)
    child = int(marker.read_text())
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_later_seeds_are_fine_tuned_at_the_lr_chosen_on_val(study, tmp_path):
    setup = dict(study.FULL, seeds=(0, 1), finetune_lrs=(3e-4, 1e-3))
    select = [study.finetune_job(setup, str(tmp_path), 'm33d', 0, 0.1, lr, []) for lr in setup['finetune_lrs']]
    for job, val in zip(select, (30.0, 25.0)):
        study.write_json(job.result, dict(arm='m33d', seed=0, fraction=0.1, lr=3e-4 if val == 30.0 else 1e-3,
                                          val_mIoU=val, test_mIoU=1.0, per_class={}))
    late = study.LateFinetune(setup, str(tmp_path), 'm33d', 1, 0.1, select, [])
    job = late.resolve()
    train = job.commands[0]
    assert 'optim_wrapper.optimizer.lr=0.0003' in train and 'randomness.seed=1' in train
    assert job.result == late.result


def test_more_jobs_at_is_a_time_today(study):
    import time
    now = time.gmtime()
    later = f'{(now.tm_hour + (1 if now.tm_hour < 23 else 0)) % 24:02d}:{now.tm_min:02d}'
    assert study.more_jobs_from(None) is None
    assert study.more_jobs_from('00:00') <= time.time()  # already past today: no waiting
    if now.tm_hour < 23:
        assert 3500 < study.more_jobs_from(later) - time.time() < 3700
    with pytest.raises(SystemExit, match='--more-jobs-at: expected HH:MM'):
        study.more_jobs_from('soon')
