"""Benchmark scenes: deterministic, every frame its own room, shape-only class pairs, position no shortcut."""
import json

import numpy as np
import pytest

from m33d_mm.synthetic.benchmark import (CLASSES, _render, class_index, generate_benchmark, load_benchmark_split,
                                         sample_view)
from m33d_mm.synthetic.renderer import keyed_rng

SIZES = dict(unlabelled=6, labelled=4, val=2, test=3)


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp('bench') / 'data'
    summary = generate_benchmark(out, **SIZES, seed=3)
    return out, summary


def test_layout_splits_and_arrays(bench):
    out, summary = bench
    assert not summary['skipped']
    for split, n in SIZES.items():
        names = (out / 'splits' / f'{split}.txt').read_text().split()
        assert len(names) == n and len(set(names)) == n
        for name in names:
            for rel in ('color/000000.jpg', 'depth/000000.png', 'label/000000.png', 'pose/000000.txt'):
                assert (out / name / rel).is_file()
        rgb, depth, label = load_benchmark_split(out, split)
        assert rgb.shape == (n, 64, 64, 3) and depth.shape == (n, 64, 64) and label.shape == (n, 64, 64)
        assert depth.max() < 12 and (depth > 0).mean() > 0.8
    assert json.loads((out / 'meta.json').read_text())['classes'] == list(CLASSES)


def test_deterministic_by_seed_and_resumable(bench, tmp_path):
    out, _ = bench
    again = generate_benchmark(tmp_path / 'again', **SIZES, seed=3)
    for split in SIZES:
        for a, b in zip(load_benchmark_split(out, split), load_benchmark_split(tmp_path / 'again', split)):
            assert np.array_equal(a, b)
    assert not again['skipped']
    assert generate_benchmark(tmp_path / 'again', **SIZES, seed=3)['skipped']
    other = generate_benchmark(tmp_path / 'other', **SIZES, seed=4)
    assert not other['skipped']
    assert not np.array_equal(load_benchmark_split(out, 'test')[0], load_benchmark_split(tmp_path / 'other', 'test')[0])
    with pytest.raises(FileExistsError, match='not empty'):
        generate_benchmark(tmp_path / 'again', **dict(SIZES, test=4), seed=3)


def test_every_frame_its_own_room_and_camera():
    rooms, angles = set(), []
    for i in range(60):
        scene, pose = sample_view(keyed_rng(0, 0, i, 0))
        rooms.add(tuple(np.round(scene.size, 4)))
        forward, right = pose[:3, 2], pose[:3, 0]
        angles.append((np.degrees(-np.arcsin(forward[2])), np.degrees(np.arcsin(right[2])), pose[2, 3]))
    assert len(rooms) == 60
    pitch, roll, height = np.array(angles).T
    assert pitch.min() > -10.5 and pitch.max() < 50.5 and pitch.max() - pitch.min() > 40
    assert abs(roll).max() < 45.5 and roll.max() - roll.min() > 60
    assert height.max() - height.min() > 1.0


def test_shape_pairs_have_matched_sizes_and_position_is_a_weak_cue():
    labels = np.stack([class_index(_render(0, 1, i, 64, 64)[2]) for i in range(300)])
    area = {name: (labels == i).sum(axis=(1, 2)) for i, name in enumerate(CLASSES)}
    for a, b in (('sphere', 'disc'), ('cube', 'panel')):
        mean_a = area[a][area[a] > 0].mean()
        mean_b = area[b][area[b] > 0].mean()
        assert 0.6 < mean_a / mean_b < 1.6, (a, b, mean_a, mean_b)
        assert (area[a] > 0).mean() > 0.25 and (area[b] > 0).mean() > 0.25
    # the per-pixel majority class over frames barely beats predicting the overall majority everywhere
    valid = labels != 255
    overall = max((labels == i)[valid].mean() for i in range(len(CLASSES)))
    first, second = labels[:150], labels[150:]
    majority = np.stack([(first == i).sum(0) for i in range(len(CLASSES))]).argmax(0)
    by_position = (second == majority)[second != 255].mean()
    assert by_position < overall + 0.12, (by_position, overall)


@pytest.mark.parametrize('kwargs, message', [(dict(labelled=0), 'labelled must be >= 1'),
                                             (dict(height=8), 'height must be >= 16'),
                                             (dict(seed=-1), 'seed must be >= 0')])
def test_bad_arguments_name_themselves(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_benchmark(tmp_path / 'x', **dict(SIZES, **kwargs))
