"""The miniature replication study runs end to end in its smoke configuration."""
import json


def test_pretraining_study_smoke_run(tmp_path, run_tool):
    out = tmp_path / 'study'
    proc = run_tool(['tools/experiments/pretraining_study.py', '--quick', '--out', out, '--arms', 'm33d', 'mae_rgb'],
                    timeout=1200)
    results = json.loads((out / 'results.json').read_text())['results']
    assert [r['arm'] for r in results] == ['m33d', 'mae_rgb']
    assert all(0 <= r['mIoU'] <= 100 for r in results)
    assert '| m33d |' in proc.stdout and (out / 'results.png').is_file()
    # every arm fine-tuned from its own pre-training run
    log = (out / 'finetune' / 'mae_rgb_frac1.0_seed0.log').read_text()
    assert 'mmpretrain format' in log

    # a second run reuses what is there: no new training, the same table
    again = run_tool(['tools/experiments/pretraining_study.py', '--quick', '--out', out, '--arms', 'm33d', 'mae_rgb'])
    assert 'reusing 2 results' in again.stdout and 'reusing' in again.stdout
    assert json.loads((out / 'results.json').read_text())['results'] == results

    # linear probes of the study's encoders, with the position-only reference and the contrastive check
    probe = run_tool(['tools/experiments/probe_encoders.py', '--study', out, '--arms', 'scratch', 'm33d', 'mae_rgb'])
    assert '| position only |' in probe.stdout
    probes = json.loads((out / 'probes.json').read_text())
    assert sorted(probes) == ['m33d', 'mae_rgb', 'position only', 'scratch']
    assert all(p['depth_rmse'] > 0 and 0 <= p['class_miou'] <= 100 for p in probes.values())
    assert probes['m33d']['infonce_own_depth'] != probes['scratch']['infonce_own_depth']
