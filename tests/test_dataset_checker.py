"""tools/data/check_dataset.py and m33d_mm.tools.dataset_checker report every damaged file of a dataset, by kind."""
import importlib.util
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from m33d_mm.tools.dataset_checker import (PROBLEM_KINDS, Problem, check_sample, list_dataset, register_check,
                                           run_checks)

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
    config.write_text(f"_base_ = '{REPO}/configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'\n"
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
    from m33d_mm.synthetic.video import generate_video_dataset
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
    from m33d_mm.synthetic.video import generate_video_dataset
    root = tmp_path / 'frames'
    generate_video_dataset(root, videos_per_class=1, val_per_class=0, num_frames=6, height=32, width=40, seed=0,
                           rgb_format='frames')
    truncate(root / 'frames/orbit/v_orbit_000/000003.jpg')
    samples, listing = list_dataset(dict(type='RGBDVideoDataset', data_root=str(root),
                                         ann_file='annotations/train.txt'))
    problems, files = run_checks(samples, progress=False)
    assert listing == [] and files == 5 * 6 * 2
    assert found(problems, root) == {('unreadable', 'frames/orbit/v_orbit_000/000003.jpg')}


def overwrite_mid_stream(path: Path, count=64, seed=0):
    """Overwrite ``count`` bytes in the middle of a file with random bytes; the length stays the same."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + count] = np.random.default_rng(seed).integers(0, 256, count, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_damage_that_decodes_is_reported_by_the_checker_and_warned_once_by_the_loader(synthetic_root, tmp_path):
    from mmengine.logging import MMLogger

    from m33d_mm.datasets import read_depth, read_rgb
    root = tmp_path / 'export'
    shutil.copytree(synthetic_root, root)
    jpeg, depth = root / 'scene0003_00/color/000001.jpg', root / 'scene0003_00/depth/000002.png'
    size = jpeg.stat().st_size
    overwrite_mid_stream(jpeg)
    assert jpeg.stat().st_size == size and cv2.imread(str(jpeg)) is not None  # OpenCV decodes it anyway
    cv2.imwrite(str(depth), np.full((64, 80), 65535, np.uint16))
    samples, listing = list_dataset(dict(type='RGBDFrameDataset', data_root=str(root), frame_skip=1))
    problems, _ = run_checks(samples, progress=False)
    assert found(listing + problems, root) == {('damaged_image', 'scene0003_00/color/000001.jpg'),
                                               ('depth_saturated', 'scene0003_00/depth/000002.png')}
    message = next(p.message for p in problems if p.kind == 'damaged_image')
    assert 'Corrupt JPEG data' in message or 'marker' in message

    logger = MMLogger.get_instance('damage_warnings', log_level='WARNING')
    with pytest.MonkeyPatch.context() as mp:
        records = []
        mp.setattr(logger, 'warning', lambda msg, *a, **k: records.append(msg), raising=False)
        mp.setattr(logger, 'log', lambda level, msg, *a, **k: records.append(msg), raising=False)
        mp.setattr(MMLogger, 'get_current_instance', classmethod(lambda cls: logger))
        for _ in range(3):
            read_rgb(str(jpeg)), read_depth(str(depth), 1000.)
    assert len([r for r in records if str(jpeg) in r]) == 1 and len([r for r in records if str(depth) in r]) == 1
    assert any('decodes damaged' in r for r in records) and any('65535 (saturated)' in r for r in records)


def test_a_colour_and_label_export_has_no_false_missing_depth(synthetic_root, tmp_path, capsys):
    root = tmp_path / 'seg_export'
    shutil.copytree(synthetic_root, root)
    for scene in root.glob('scene*'):
        shutil.rmtree(scene / 'depth')
    assert load_tool().main([str(root)]) == 0, capsys.readouterr().out
    assert 'missing_depth' not in capsys.readouterr().out


def quickstart_config(tmp_path, name, root, **loaders):
    config = tmp_path / f'{name}.py'
    lines = [f"_base_ = '{REPO}/configs/quickstart/{name}.py'"]
    for loader in ('train_dataloader', 'val_dataloader'):
        lines.append(f"{loader} = dict(dataset=dict(data_root='{root}'))")
    config.write_text('\n'.join(lines) + '\n')
    return config


@pytest.mark.parametrize('name', ['convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd',
                                  'dpt_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd'])
def test_segmentation_and_depth_configs_are_checked(name, synthetic_root, tmp_path, capsys):
    root = tmp_path / 'export'
    shutil.copytree(synthetic_root, root)
    tool = load_tool()
    assert tool.main([str(quickstart_config(tmp_path, name, root))]) == 0, capsys.readouterr().out
    (root / 'scene0000_00/color/000001.jpg').write_bytes(b'')  # 0 bytes
    overwrite_mid_stream(root / 'scene0001_00/color/000002.jpg')
    assert tool.main([str(quickstart_config(tmp_path, name, root))]) == 1
    out = capsys.readouterr().out
    assert f'[unreadable] colour image {root}/scene0000_00/color/000001.jpg is empty or corrupt' in out
    assert f'[damaged_image] colour image {root}/scene0001_00/color/000002.jpg decodes damaged' in out


def test_action_datasets_are_checked_frame_by_frame(tmp_path, capsys):
    from m33d_mm.synthetic.phase import generate_phase_dataset
    root = tmp_path / 'phase'
    generate_phase_dataset(root, num_videos=4, val_videos=1, phases_per_video=2, segment_frames=(6, 8), overlap=2,
                           height=32, width=32, seed=0)
    config = quickstart_config(tmp_path, 'recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-phase-video', root)
    tool = load_tool()
    assert tool.main([str(config)]) == 0, capsys.readouterr().out
    assert 'PhaseClipDataset' in capsys.readouterr().out
    frame = sorted((root / 'videos').rglob('*.jpg'))[3]
    frame.write_bytes(b'')
    assert tool.main([str(config)]) == 1
    assert f'[unreadable]' in capsys.readouterr().out


def test_every_registered_dataset_type_has_a_checker():
    import m33d_mm.action  # noqa: F401
    import m33d_mm.datasets  # noqa: F401
    import m33d_mm.segmentation  # noqa: F401
    from mmaction.registry import DATASETS as ACTION
    from mmpretrain.registry import DATASETS as PRETRAIN
    from mmseg.registry import DATASETS as SEG

    from m33d_mm.tools.dataset_checker import DATASET_LISTERS
    ours = {name for registry in (PRETRAIN, SEG, ACTION) for name, cls in registry.module_dict.items()
            if cls.__module__.startswith('m33d_mm.') and name != 'RobustDataset'}
    assert ours and ours <= set(DATASET_LISTERS), sorted(ours - set(DATASET_LISTERS))
