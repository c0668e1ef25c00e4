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
