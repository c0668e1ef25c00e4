"""The benchmark scripts run and write their figures (tiny sizes; the figures themselves are in docs/benchmarks.md)."""
import json


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
