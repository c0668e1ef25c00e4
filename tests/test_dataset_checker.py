"""tools/data/check_dataset.py and m33d_mm.datasets.checker report every damaged file of a dataset, by kind."""
import importlib.util
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from m33d_mm.datasets.checker import PROBLEM_KINDS, Problem, check_sample, list_dataset, register_check, run_checks

REPO = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location('check_dataset', REPO / 'tools/data/check_dataset.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def truncate(path: Path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])


@pytest.fixture
def damaged_root(synthetic_root, tmp_path):
    """A copy of the synthetic export with one instance of each image-side problem, and what is expected."""
    root = tmp_path / 'export'
    shutil.copytree(synthetic_root, root)
    s0, s1, s2, s3 = (root / f'scene000{i}_00' for i in range(4))
    truncate(s0 / 'color/000001.jpg')
    truncate(s0 / 'depth/000002.png', 0.7)
    # A float depth map, as some converters write: NaN/Inf cannot occur in uint16 PNGs, so floats are refused.
    ok, tiff = cv2.imencode('.tiff', np.full((64, 80), np.nan, np.float32))
    (s0 / 'depth/000003.png').write_bytes(tiff.tobytes())
    cv2.imwrite(str(s1 / 'depth/000000.png'), np.zeros((64, 80), np.uint16))
    cv2.imwrite(str(s1 / 'depth/000001.png'), np.full((32, 80), 1000, np.uint16))
    (s1 / 'depth/000002.png').unlink()
    (s1 / 'color/000003.jpg').unlink()
    label = cv2.imread(str(s2 / 'label/000000.png'), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(s2 / 'label/000001.png'), label[:32])
    cv2.imwrite(str(s3 / 'label/000000.png'), np.dstack([label] * 3))
    label[0, :5] = 41
    cv2.imwrite(str(s2 / 'label/000000.png'), label)
    (s2 / 'label/000002.png').unlink()
    (root / 'splits/check.txt').write_text('scene0000_00\nscene0001_00\nscene0002_00\nscene0003_00\nscene0042_00\n')
    expected = {
        ('unreadable', 'scene0000_00/color/000001.jpg'),
        ('unreadable', 'scene0000_00/depth/000002.png'),
        ('depth_format', 'scene0000_00/depth/000003.png'),
        ('all_invalid_depth', 'scene0001_00/depth/000000.png'),
        ('size_mismatch', 'scene0001_00/depth/000001.png'),
        ('missing_depth', 'scene0001_00/color/000002.jpg'),
        ('missing_color', 'scene0001_00/depth/000003.png'),
        ('label_out_of_range', 'scene0002_00/label/000000.png'),
        ('label_size_mismatch', 'scene0002_00/label/000001.png'),
        ('missing_label', 'scene0002_00/color/000002.jpg'),
        ('label_format', 'scene0003_00/label/000000.png'),
        ('missing_path', 'scene0042_00'),
    }
    return root, expected


def found(problems, root):
    return {(p.kind, str(Path(p.path).relative_to(root))) for p in problems}


def test_every_problem_is_found_once_by_kind_and_file(damaged_root):
    root, expected = damaged_root
    samples, listing = list_dataset(dict(type='RGBDFrameDataset', data_root=str(root), split_file='splits/check.txt',
                                         frame_skip=1))
    assert len(samples) == 15  # 16 colour frames of 4 scenes, one colour frame removed
    problems, files = run_checks(samples, workers=1, progress=False)
    problems += listing
    assert found(problems, root) == expected
    assert len(problems) == len(expected)
    messages = {p.kind: p.message for p in problems}
    assert 'is float32, expected uint16' in messages['depth_format']
    assert 'outside NYU40 range 0..40: 41' in messages['label_out_of_range']
    assert 'scene0042_00' in messages['missing_path']
    assert files == 15 + 14 + 14  # colour, existing depth, existing labels


def test_workers_find_the_same_problems_in_the_same_order(damaged_root):
    root, _ = damaged_root
    samples, _ = list_dataset(dict(type='RGBDFrameDataset', data_root=str(root), frame_skip=1))
    assert run_checks(samples, workers=2, progress=False) == run_checks(samples, workers=1, progress=False)


def test_cli_prints_a_summary_table_and_exits_non_zero(damaged_root, capsys, tmp_path):
    root, expected = damaged_root
    tool = load_tool()
    report = tmp_path / 'problems.json'
    assert tool.main([str(root), '--split-file', 'splits/check.txt', '--workers', '2', '--json', str(report)]) == 1
    out = capsys.readouterr().out
    assert 'checked 15 samples, 43 files' in out and 'files/s, 2 workers' in out
    table = out.split('\n\n')[1]
    assert 'missing_depth' in table and 'total' in table and table.splitlines()[-1].split() == ['total', '12']
    assert sum(line.startswith('[') for line in out.splitlines()) == len(expected)
    assert {(p['kind'], p['path']) for p in json.loads(report.read_text())} == {
        (kind, str(root / path)) for kind, path in expected}


def test_cli_reads_roots_split_and_frame_skip_from_a_config(synthetic_root, tmp_path, capsys):
    config = tmp_path / 'cfg.py'
    config.write_text(f"_base_ = '{REPO}/configs/quickstart/m33d_tiny_synthetic_stage1.py'\n"
                      f"train_dataloader = dict(dataset=dict(data_root='{synthetic_root}', frame_skip=2))\n"
                      "val_dataloader = dict(dataset=dict(type='RGBDFrameDataset', "
                      f"data_root='{synthetic_root}', split_file='splits/val.txt', frame_skip=1))\n")
    assert load_tool().main([str(config)]) == 0
    out = capsys.readouterr().out
    assert 'train: RGBDFrameDataset, 6 samples' in out  # 3 train scenes x frames 0 and 2
    assert 'val: RGBDFrameDataset, 4 samples' in out and 'no problems found' in out
    assert load_tool().main([str(config), '--frame-skip', '1']) == 0
    assert 'train: RGBDFrameDataset, 12 samples' in capsys.readouterr().out


@pytest.mark.parametrize('split,kind', [('empty', 'empty_split'), ('absent', 'missing_path')])
def test_empty_or_missing_split_is_a_problem(synthetic_root, tmp_path, split, kind, capsys):
    if split == 'empty':
        (tmp_path / 'empty.txt').write_text('# nothing\n')
    samples, problems = list_dataset(dict(type='RGBDFrameDataset', data_root=str(synthetic_root),
                                          split_file=str(tmp_path / f'{split}.txt')))
    assert samples == [] and [p.kind for p in problems] == [kind]
    assert load_tool().main([str(synthetic_root), '--split-file', str(tmp_path / f'{split}.txt')]) == 1
    assert f'[{kind}]' in capsys.readouterr().out


def test_registry_rejects_unknown_kinds_and_duplicate_checks():
    with pytest.raises(ValueError, match='unknown problem kind "typo"'):
        Problem('typo', 'x', 'y')
    with pytest.raises(KeyError, match='already registered'):
        register_check('rgbd_frame')(lambda sample: None)
    with pytest.raises(KeyError, match='no check registered for sample kind "pointcloud"'):
        check_sample(dict(kind='pointcloud'))
    assert set(PROBLEM_KINDS) >= {'empty_video', 'frame_count_mismatch'}


def test_video_datasets_are_checked_frame_by_frame(tmp_path, capsys):
    from m33d_mm.datasets.synthetic_video import generate_video_dataset
    root = tmp_path / 'video'
    generate_video_dataset(root, videos_per_class=1, val_per_class=0, num_frames=6, height=32, width=40, seed=0)
    (root / 'videos/left_right/v_left_right_000.mp4').write_bytes(b'not a video' * 40)
    (root / 'videos/toward_away/v_toward_away_000.mp4').write_bytes(b'')
    (root / 'depth/orbit/v_orbit_000/000005.png').unlink()
    cv2.imwrite(str(root / 'depth/orbit/v_orbit_000/000002.png'), np.ones((16, 40), np.uint16))
    for png in (root / 'depth/bounce/v_bounce_000').glob('*.png'):
        png.unlink()
    config = tmp_path / 'video_cfg.py'
    config.write_text("train_dataloader = dict(dataset=dict(type='RobustDataset', dataset=dict(\n"
                      f"    type='RGBDVideoDataset', data_root='{root}', ann_file='annotations/train.txt')))\n")
    report = tmp_path / 'video.json'
    assert load_tool().main([str(config), '--json', str(report)]) == 1
    assert 'train: RGBDVideoDataset, 5 samples' in capsys.readouterr().out
    problems = {(p['kind'], str(Path(p['path']).relative_to(root))) for p in json.loads(report.read_text())}
    assert problems == {
        ('unreadable', 'videos/left_right/v_left_right_000.mp4'),
        ('empty_video', 'videos/toward_away/v_toward_away_000.mp4'),
        ('frame_count_mismatch', 'depth/orbit/v_orbit_000'),
        ('size_mismatch', 'depth/orbit/v_orbit_000/000002.png'),
        ('missing_depth', 'depth/bounce/v_bounce_000'),
    }


def test_frame_folder_videos_name_the_damaged_frame(tmp_path):
    from m33d_mm.datasets.synthetic_video import generate_video_dataset
    root = tmp_path / 'frames'
    generate_video_dataset(root, videos_per_class=1, val_per_class=0, num_frames=6, height=32, width=40, seed=0,
                           rgb_format='frames')
    truncate(root / 'frames/orbit/v_orbit_000/000003.jpg')
    samples, listing = list_dataset(dict(type='RGBDVideoDataset', data_root=str(root),
                                         ann_file='annotations/train.txt'))
    problems, files = run_checks(samples, progress=False)
    assert listing == [] and files == 5 * 6 * 2
    assert found(problems, root) == {('unreadable', 'frames/orbit/v_orbit_000/000003.jpg')}
