"""tools/train.py and tools/test.py on the tiny segmentation and depth quick-start configs (a few iterations on
synthetic scenes generated for the test session)."""
import json

import mmengine
import pytest

QUICKSTART = {
    'seg': ('configs/quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py', 'mIoU'),
    'depth': ('configs/quickstart/dpt_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py', 'd1'),
}


def data_options(root):
    options = ['model.backbone.pretrained=None']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={root}', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return options


@pytest.mark.parametrize('task', sorted(QUICKSTART))
def test_train_then_test(task, synthetic_root, tmp_path, run_tool):
    config, metric = QUICKSTART[task]
    work_dir = tmp_path / 'work'
    train = run_tool([
        'tools/train.py', config, '--work-dir', work_dir, '--cfg-options', *data_options(synthetic_root),
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'train_dataloader.batch_size=2'
    ])
    log = train.stdout + train.stderr
    assert 'layer-wise lr decay' in log
    assert f'{metric}: ' in log  # validation after the last iteration
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.is_file()
    predictions = tmp_path / 'predictions.pkl'
    test = run_tool(['tools/test.py', config, checkpoint, '--work-dir', work_dir, '--out', predictions,
                     '--cfg-options', *data_options(synthetic_root)])
    assert f'{metric}: ' in test.stdout + test.stderr
    # --out holds the predictions, one entry per test sample, as with the stock tools; metrics go to the work dir
    dumped = mmengine.load(predictions)
    assert len(dumped) >= 1 and ('pred_sem_seg' if task == 'seg' else 'pred_depth_map') in dumped[0]
    metrics = json.loads((work_dir / 'metrics.json').read_text())
    value = metrics[metric]
    assert (0.0 <= value <= 100.0) if metric == 'mIoU' else (0.0 <= value <= 1.0)


    # a checkpoint of the other task's model is refused with a message, by both tools, before any work is done
    other = QUICKSTART['depth' if task == 'seg' else 'seg'][0]
    options = ['--work-dir', tmp_path / 'other', '--cfg-options', *data_options(synthetic_root)]
    for args in (['tools/test.py', other, checkpoint] + options,
                 ['tools/train.py', other] + options + [f'load_from={checkpoint}', 'train_cfg.max_iters=1']):
        wrong = run_tool(args, check=False)
        assert wrong.returncode != 0
        assert f'{checkpoint} does not fit the model of this config' in wrong.stderr
        assert 'Traceback' not in wrong.stderr
