"""The ScanNet pre-training path as the README gives it: a real-format ``.sens`` file -> scannet_sens.py
--frame-skip 25 -> the stage-1 config's dataset, which must use every exported frame; and an interrupted export
that resumes."""
import os

import pytest
from mmengine.config import Config
from mmpretrain.registry import DATASETS

from test_dataset_converters import _write_sens, sens

from m33d_mm.datasets import RGBDFrameDataset

STAGE1 = 'configs/m33d/m33d-stage1_vit-base-p16_8xb64-10e_scannet-rgbd.py'


def _scans(tmp_path, scenes, num_frames):
    for scene in scenes:
        (tmp_path / 'scans' / scene).mkdir(parents=True)
        _write_sens(tmp_path / 'scans' / scene / f'{scene}.sens', num_frames=num_frames)
    return tmp_path / 'scans'


def test_exported_frames_are_used_whole_by_the_stage1_dataset(tmp_path):
    scans = _scans(tmp_path, ('scene0000_00', 'scene0001_00'), num_frames=60)
    out = tmp_path / 'scannet_frames'
    assert sens.main([str(scans), str(out), '--frame-skip', '25', '--resize', '24', '32']) == 0
    (out / 'splits').mkdir()
    (out / 'splits' / 'scannetv2_train.txt').write_text('scene0000_00\nscene0001_00\n')

    cfg = Config.fromfile(STAGE1)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=str(out), pipeline=[])
    assert dataset_cfg.frame_skip == 25  # the recipe's value, the README's export value
    dataset = DATASETS.build(dataset_cfg)
    # frames 0, 25, 50 of each scene: the export's stride is not applied a second time
    assert len(dataset) == 6
    assert [dataset.get_data_info(i)['frame'] for i in range(3)] == ['000000', '000025', '000050']


def test_frame_skip_is_by_frame_number(tmp_path):
    scans = _scans(tmp_path, ('scene0000_00', ), num_frames=60)
    assert sens.main([str(scans), str(tmp_path / 'out'), '--frame-skip', '25']) == 0
    assert len(RGBDFrameDataset(str(tmp_path / 'out'), frame_skip=50)) == 2  # frames 0 and 50
    assert len(RGBDFrameDataset(str(tmp_path / 'out'), frame_skip=1)) == 3
    assert len(RGBDFrameDataset(str(tmp_path / 'out'), frame_skip=5)) == 3  # denser than the export: all of it
    with pytest.raises(ValueError, match=r'frame_skip=10: scene scene0000_00 holds every 25-th frame .*multiple of 25'):
        RGBDFrameDataset(str(tmp_path / 'out'), frame_skip=10)


def test_export_resumes_complete_and_partial_scenes(tmp_path, capsys):
    scenes = ('scene0000_00', 'scene0001_00')
    scans = _scans(tmp_path, scenes, num_frames=9)
    out = tmp_path / 'out'
    args = [str(scans), str(out), '--frame-skip', '2']
    assert sens.main(args) == 0
    complete, partial = out / scenes[0], out / scenes[1]
    assert sens.read_export_info(complete) == dict(source=str(scans / scenes[0] / f'{scenes[0]}.sens'),
                                                   frame_skip=2, resize=None, complete=True, frames=5)
    # interrupt scene 2 the way a killed run leaves it: record not complete, the last frames missing
    info = sens.read_export_info(partial)
    sens._write_export_info(partial, **dict(info, complete=False))
    for stem in ('000006', '000008'):
        (partial / 'pose' / f'{stem}.txt').unlink()
    (partial / 'color' / '000008.jpg').unlink()
    old = 1_000_000_000
    for path in list(complete.rglob('*')) + list(partial.rglob('*')):
        os.utime(path, (old, old))

    assert sens.main(args) == 0
    assert '1 already complete, skipped' in capsys.readouterr().out
    assert all(p.stat().st_mtime == old for p in complete.rglob('*'))  # the complete scene is left alone
    kept = [partial / 'color' / f'{stem}.jpg' for stem in ('000000', '000002', '000004')]
    assert all(p.stat().st_mtime == old for p in kept)  # finished frames of the partial scene are not redone
    for sub, suffix in (('color', '.jpg'), ('depth', '.png'), ('pose', '.txt')):
        assert sorted(p.name for p in (partial / sub).iterdir()) == [f'{i:06d}{suffix}' for i in range(0, 9, 2)]
    assert sens.read_export_info(partial)['complete'] is True

    # the same output root with other settings is refused, naming the folder
    assert sens.main([str(scans), str(out), '--frame-skip', '3']) == 1
    assert f'{complete}: already exported with' in capsys.readouterr().err
