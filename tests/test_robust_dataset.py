"""RobustDataset: samples that fail to load are logged and replaced, until too many have failed."""
import json
import shutil

import cv2
import numpy as np
import pytest
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from torch.utils.data import DataLoader

from m33d_mm.datasets.robust import RobustDataset, TooManyBadSamplesError

STAGE1 = 'configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'
PIPELINE = [dict(type='LoadRGBDFromFile'), dict(type='RGBDResize', scale=(32, 48)), dict(type='PackRGBDInputs')]
# Train split of the synthetic fixture: 3 scenes x 4 frames; these two samples get damaged.
BAD = {5: 'scene0001_00/color/000001.jpg', 11: 'scene0002_00/depth/000003.png'}


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Pin mmengine's global default scope for these builds (other test modules set it, e.g. to mmseg); the
    runners built here leave the scope as it was."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def damaged_root(synthetic_root, tmp_path):
    root = tmp_path / 'export'
    shutil.copytree(synthetic_root, root)
    jpeg = root / BAD[5]
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    cv2.imwrite(str(root / BAD[11]), np.zeros((64, 80), np.uint16))
    return root


def robust(root, **kwargs):
    inner = dict(type='RGBDFrameDataset', data_root=str(root), split_file='splits/train.txt', frame_skip=1,
                 pipeline=PIPELINE)
    return RobustDataset(dataset=inner, **kwargs)


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bad_samples_are_replaced_by_the_next_index_and_logged(damaged_root, tmp_path):
    log = tmp_path / 'bad.jsonl'
    dataset = robust(damaged_root, max_bad_fraction=0.2, log_file=str(log))
    paths = [dataset[i]['data_samples'].img_path for i in range(len(dataset))]
    infos = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    assert paths[5] == infos[6] and paths[11] == infos[0]
    assert [p for i, p in enumerate(paths) if i not in BAD] == [p for i, p in enumerate(infos) if i not in BAD]
    records = read_log(log)
    assert [r['index'] for r in records] == [5, 11] and [r['bad_so_far'] for r in records] == [1, 2]
    assert records[0]['files']['img_path'].endswith(BAD[5]) and 'is empty or corrupt' in records[0]['error']
    assert records[1]['files']['depth_path'].endswith(BAD[11]) and '0.0% valid pixels' in records[1]['error']
    assert records[0]['process'] == 'rank 0 main process' and records[0]['dataset_size'] == 12
    # a known bad sample is not loaded (nor logged) again
    assert dataset[5]['data_samples'].img_path == infos[6] and len(read_log(log)) == 2
    assert sorted(dataset.bad_samples()) == [5, 11]


def test_more_bad_samples_than_allowed_stop_with_a_clear_error(damaged_root, tmp_path):
    log = tmp_path / 'bad.jsonl'
    dataset = robust(damaged_root, max_bad_fraction=0.1, log_file=str(log))
    dataset[5]
    with pytest.raises(TooManyBadSamplesError, match=r'2 of 12 samples \(16.67%\) failed to load, more than '
                       r'max_bad_fraction=0.1 allows; logged in .*bad.jsonl') as info:
        dataset[11]
    assert BAD[5] in str(info.value) and BAD[11] in str(info.value)
    with pytest.raises(ValueError, match=r'max_bad_fraction must be in \[0, 1\], got 2'):
        robust(damaged_root, max_bad_fraction=2)


def test_workers_share_the_count_through_the_log_file(damaged_root, tmp_path):
    # batch 2 without shuffling: sample 5 goes to worker 0 (batch 2), sample 11 to worker 1 (batch 5)
    log = tmp_path / 'bad.jsonl'
    loader = DataLoader(robust(damaged_root, max_bad_fraction=0.1, log_file=str(log)), batch_size=2,
                        num_workers=2, collate_fn=pseudo_collate)
    iterator = iter(loader)
    try:
        with pytest.raises(TooManyBadSamplesError, match='2 of 12 samples'):
            list(iterator)
    finally:
        # Left to the garbage collector, an iterator whose worker raised takes 10 s to stop its workers.
        iterator._shutdown_workers()
    assert sorted(r['process'] for r in read_log(log)) == ['rank 0 worker 0', 'rank 0 worker 1']


def test_without_a_log_file_each_worker_counts_its_own(damaged_root, monkeypatch):
    monkeypatch.setattr(RobustDataset, '_run_log_file', staticmethod(lambda: None))
    loader = DataLoader(robust(damaged_root, max_bad_fraction=0.1), batch_size=2, num_workers=2,
                        collate_fn=pseudo_collate)
    assert sum(len(batch['data_samples']) for batch in loader) == 12  # one bad sample per worker is allowed


def test_training_run_skips_bad_samples_and_logs_them_in_the_work_dir(damaged_root, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(STAGE1)
    cfg.custom_imports.imports.append('m33d_mm.datasets.robust')
    inner = cfg.train_dataloader.dataset
    inner.data_root = str(damaged_root)
    cfg.train_dataloader.dataset = dict(type='RobustDataset', dataset=inner, max_bad_fraction=0.2)
    cfg.train_dataloader.update(batch_size=4, num_workers=2, persistent_workers=False)
    cfg.merge_from_dict({'train_cfg.max_epochs': 1, 'default_hooks.logger.interval': 1})
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'robust_{tmp_path.name}'
    Runner.from_cfg(cfg).train()
    logs = list((tmp_path / 'work').glob('*/bad_samples.jsonl'))
    assert len(logs) == 1 and sorted(r['index'] for r in read_log(logs[0])) == [5, 11]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def test_segmentation_datasets_are_wrapped_in_mmseg_and_mmcv_load_errors_are_skipped(damaged_root, tmp_path):
    import m33d_mm.action  # noqa: F401
    import m33d_mm.segmentation  # noqa: F401
    from mmaction.registry import DATASETS as ACTION
    from mmseg.registry import DATASETS as SEG
    assert ACTION.get('RobustDataset') is RobustDataset
    (damaged_root / 'scene0000_00/color/000002.jpg').write_bytes(b'')  # 0 bytes: mmcv's loader would raise cv2.error
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadNYU40Annotations'), dict(type='PackSegInputs')]
    inner = dict(type='ScanNetSegDataset', data_root=str(damaged_root), split_file='splits/train.txt',
                 pipeline=pipeline)
    log = tmp_path / 'bad.jsonl'
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = SEG.build(dict(type='RobustDataset', dataset=inner, max_bad_fraction=0.5, log_file=str(log)))
        sample = dataset[2]
    assert sample['data_samples'].img_path.endswith('scene0000_00/color/000003.jpg')
    record = json.loads(log.read_text().splitlines()[0])
    assert record['index'] == 2 and 'scene0000_00/color/000002.jpg is empty or corrupt' in record['error']
    with DefaultScope.overwrite_default_scope('mmseg'):
        plain = SEG.build(inner)
        with pytest.raises(ValueError, match=r'image .*scene0000_00/color/000002\.jpg is empty or corrupt'):
            plain[2]
