"""Tests of the embedded synthetic RGB-D scene generator (m33d_mm.synthetic.scenes)."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from m33d_mm.synthetic import scenes as synthetic

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(num_scenes=4, frames_per_scene=3, height=48, width=64, seed=3, val_scenes=1)


@pytest.fixture(scope='module')
def small_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_small')
    summary = synthetic.generate_dataset(root, **SMALL)
    assert not summary['skipped'] and summary['frames_written'] == 12
    return root


def _frames(root):
    """Yields (scene_dir, frame_name) for every frame of a generated dataset."""
    for scene in sorted(p for p in Path(root).iterdir() if p.name.startswith('scene')):
        for color in sorted((scene / 'color').glob('*.jpg')):
            yield scene, color.stem


def _read_frame(scene, name):
    rgb = cv2.cvtColor(cv2.imread(str(scene / 'color' / f'{name}.jpg'), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    depth = cv2.imread(str(scene / 'depth' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
    label = cv2.imread(str(scene / 'label' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
    return rgb, depth, label


def test_layout_meta_and_splits(small_root):
    meta = json.loads((small_root / 'meta.json').read_text())
    assert meta['generator'] == 'm33d_mm.synthetic' and meta['version'] == 1
    assert meta['label_format'] == 'nyu40'
    assert {k: meta[k] for k in ('seed', 'height', 'width', 'num_scenes', 'frames_per_scene')} == {
        k: SMALL[k] for k in ('seed', 'height', 'width', 'num_scenes', 'frames_per_scene')}
    assert (small_root / 'splits' / 'train.txt').read_text().split() == [
        'scene0000_00', 'scene0001_00', 'scene0002_00']
    assert (small_root / 'splits' / 'val.txt').read_text().split() == ['scene0003_00']

    intrinsic = np.loadtxt(small_root / 'scene0000_00' / 'intrinsic.txt')
    assert intrinsic.shape == (4, 4)
    np.testing.assert_allclose(intrinsic[:3, :3], [[57.6, 0, 32], [0, 57.6, 24], [0, 0, 1]])
    for scene in (small_root / f'scene{i:04d}_00' for i in range(4)):
        for sub, ext in (('color', 'jpg'), ('depth', 'png'), ('label', 'png'), ('pose', 'txt')):
            assert sorted(p.name for p in (scene / sub).iterdir()) == [f'{f:06d}.{ext}' for f in range(3)]
        rgb, depth, label = _read_frame(scene, '000000')
        assert rgb.shape == (48, 64, 3) and depth.dtype == np.uint16 and label.dtype == np.uint8
        assert depth.shape == label.shape == (48, 64)
        pose = np.loadtxt(scene / 'pose' / '000000.txt')
        np.testing.assert_allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-5)
        np.testing.assert_allclose(pose[3], [0, 0, 0, 1])


def test_same_seed_gives_identical_files_whatever_the_workers(small_root, tmp_path):
    synthetic.generate_dataset(tmp_path, workers=2, **SMALL)
    files = sorted(p.relative_to(small_root) for p in small_root.rglob('*') if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob('*') if p.is_file())
    for rel in files:
        assert (small_root / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_other_seed_gives_other_scenes():
    images = []
    for seed in (0, 1):
        scene = synthetic.make_scene(np.random.default_rng(seed))
        images.append(synthetic.render_frame(scene, synthetic.camera_pose(scene, 0), 48, 64,
                                             np.random.default_rng(0))[0])
    assert not np.array_equal(*images)


def test_depth_range_and_invalid_fraction(small_root):
    invalid, total = 0, 0
    for scene, name in _frames(small_root):
        _, depth, _ = _read_frame(scene, name)
        valid = depth[depth > 0]
        assert valid.min() >= 300 and valid.max() <= 10000  # millimetres: inside a room, within sensor range
        frame_invalid = np.mean(depth == 0)
        assert frame_invalid < 0.15
        invalid += int((depth == 0).sum())
        total += depth.size
    assert 0.005 <= invalid / total <= 0.10


def test_labels_are_nyu40_scene_classes(small_root, synthetic_root):
    seen = set()
    for root in (small_root, synthetic_root):
        for scene, name in _frames(root):
            _, depth, label = _read_frame(scene, name)
            ids = set(np.unique(label).tolist())
            assert ids <= set(synthetic.SCENE_CLASSES), ids - set(synthetic.SCENE_CLASSES)
            # Every ray hits a room surface, and pixels without depth keep their label.
            assert 0 not in ids
            seen |= ids
    assert {1, 2} <= seen and len(seen) >= 4, seen


def test_floor_pixels_back_project_to_height_zero(small_root):
    """Labels follow geometry: floor-labelled depth, lifted to 3-D with intrinsics and pose, lies on z = 0."""
    heights, wall_rows, floor_rows = [], [], []
    for scene, name in _frames(small_root):
        _, depth, label = _read_frame(scene, name)
        k = np.loadtxt(scene / 'intrinsic.txt')[:3, :3]
        pose = np.loadtxt(scene / 'pose' / f'{name}.txt')
        v, u = np.nonzero((label == 2) & (depth > 0) & (depth < 5000))
        z = depth[v, u] / 1000.0
        cam = np.stack([(u - k[0, 2]) * z / k[0, 0], (v - k[1, 2]) * z / k[1, 1], z, np.ones_like(z)])
        heights.append((pose @ cam)[2])
        floor_rows.append(v)
        wall_rows.append(np.nonzero(label == 1)[0])
        # The camera looks from above the floor, so floor points are below it.
        assert pose[2, 3] > 1.0
    heights = np.concatenate(heights)
    assert heights.size > 500
    assert np.median(np.abs(heights)) < 0.01 and np.quantile(np.abs(heights), 0.95) < 0.05
    assert np.concatenate(floor_rows).mean() > np.concatenate(wall_rows).mean()


def test_rendered_geometry_matches_scene():
    """Depth returned by render_frame is z-depth: back-projected wall and floor points lie on the room box."""
    scene = synthetic.make_scene(np.random.default_rng(7))
    pose = synthetic.camera_pose(scene, 5)
    _, depth, label = synthetic.render_frame(scene, pose, 60, 80, np.random.default_rng(0))
    k = synthetic.camera_intrinsics(60, 80)
    v, u = np.nonzero((depth > 0) & np.isin(label, [1, 2, 22]))
    z = depth[v, u].astype(np.float64)
    world = pose[:3, :3] @ np.stack([(u - k[0, 2]) * z / k[0, 0], (v - k[1, 2]) * z / k[1, 1], z]) + pose[:3, 3:]
    # Distance to the nearest of the six room planes, relative to the range (depth noise grows with it).
    to_plane = np.minimum(np.abs(world), np.abs(world - scene.size[:, None].astype(np.float64))).min(axis=0)
    assert np.median(to_plane / z) < 0.005


def test_colour_is_not_a_function_of_class(small_root, synthetic_root):
    per_class = {}
    for root in (small_root, synthetic_root):
        for scene, name in _frames(root):
            rgb, _, label = _read_frame(scene, name)
            for cls in (1, 2):
                mask = label == cls
                if mask.sum() > 50:
                    per_class.setdefault(cls, []).append(rgb[mask].mean(axis=0))
    for cls, means in per_class.items():
        means = np.array(means)
        spread = np.linalg.norm(means[:, None] - means[None], axis=-1).max()
        assert spread > 40, (cls, spread)
    # Wall and floor colour ranges overlap: per-frame means of the two classes are not separable by brightness.
    wall_luma, floor_luma = (np.array(per_class[c]).mean(axis=1) for c in (1, 2))
    assert wall_luma.min() < floor_luma.max() and floor_luma.min() < wall_luma.max()


def test_rerun_is_idempotent(small_root):
    stamps = {p: p.stat().st_mtime_ns for p in small_root.rglob('*') if p.is_file()}
    summary = synthetic.generate_dataset(small_root, **SMALL)
    assert summary['skipped'] and summary['frames_written'] == 0
    assert {p: p.stat().st_mtime_ns for p in small_root.rglob('*') if p.is_file()} == stamps


def test_foreign_directory_needs_force(tmp_path):
    settings = dict(num_scenes=3, frames_per_scene=1, height=16, width=16, val_scenes=1)
    synthetic.generate_dataset(tmp_path, seed=0, **settings)
    with pytest.raises(FileExistsError, match=str(tmp_path)):
        synthetic.generate_dataset(tmp_path, seed=1, **settings)
    (tmp_path / 'notes.txt').write_text('kept')
    summary = synthetic.generate_dataset(tmp_path, seed=1, force=True, **dict(settings, num_scenes=2))
    assert not summary['skipped']
    assert json.loads((tmp_path / 'meta.json').read_text())['seed'] == 1
    # Scenes of the replaced dataset are gone; files that are not the generator's stay.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'meta.json', 'notes.txt', 'scene0000_00', 'scene0001_00', 'splits']

    unrelated = tmp_path / 'unrelated'
    unrelated.mkdir()
    (unrelated / 'data.bin').write_bytes(b'x')
    with pytest.raises(FileExistsError, match='unrelated'):
        synthetic.generate_dataset(unrelated, **settings)


@pytest.mark.parametrize('kwargs, name', [
    (dict(height=8), 'height'),
    (dict(width=15), 'width'),
    (dict(height=32.5), 'height'),
    (dict(frames_per_scene=0), 'frames_per_scene'),
    (dict(num_scenes=2, val_scenes=2), 'num_scenes'),
    (dict(val_scenes=-1), 'val_scenes'),
    (dict(num_scenes=0, val_scenes=0), 'num_scenes'),
    (dict(workers=0), 'workers'),
    (dict(seed=-1), 'seed'),
])
def test_bad_arguments_raise(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        synthetic.generate_dataset(tmp_path / 'out', **kwargs)
    assert not (tmp_path / 'out').exists()


def test_camera_moves_smoothly():
    scene = synthetic.make_scene(np.random.default_rng(11))
    poses = np.stack([synthetic.camera_pose(scene, i) for i in range(40)])
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    assert 0.002 < steps.mean() and steps.max() < 0.15
    forward = poses[:, :3, 2]
    angles = np.degrees(np.arccos(np.clip((forward[1:] * forward[:-1]).sum(axis=1), -1, 1)))
    assert angles.max() < 5
    # Roughly horizontal, slightly down.
    assert np.all(forward[:, 2] < 0) and np.all(forward[:, 2] > -0.5)
    assert np.all((poses[:, :2, 3] > 0) & (poses[:, :2, 3] < scene.size[:2]))


def test_cli_writes_summary(tmp_path, capsys):
    # Loaded in-process: a subprocess would spend seconds importing the OpenMMLab stack for each call.
    spec = importlib.util.spec_from_file_location('generate_synthetic_rgbd',
                                                  REPO / 'tools' / 'data' / 'generate_synthetic_rgbd.py')
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path / 'cli'
    args = [str(out), '--num-scenes', '2', '--val-scenes', '1', '--frames-per-scene', '2', '--height', '16',
            '--width', '24', '--workers', '2']
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert 'wrote 4 frames' in printed and 'frames/s' in printed
    assert cli.main(args) == 0
    assert 'nothing written' in capsys.readouterr().out
    assert cli.main(args + ['--seed', '5']) != 0
    assert str(out) in capsys.readouterr().err
    assert cli.main(args + ['--height', '4']) != 0
    assert 'height' in capsys.readouterr().err
