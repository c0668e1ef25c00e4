"""RGB-D video data: the synthetic motion videos, the annotation-list dataset, clip transforms, bad inputs."""
import json
import shutil

import m33d_mm  # noqa: F401  (stack fixes first)
import cv2
import decord
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from m33d_mm.datasets.rgbd_video import RGBDVideoDataset, read_phase_segments, read_video_list
from m33d_mm.synthetic.video import MOTION_CLASSES, generate_video_dataset
from m33d_mm.datasets.transforms.rgbd import RGBDDataError
from m33d_mm.datasets.transforms.video import (PackRGBDClipInputs, RGBDClipRandomFlip, RGBDClipRandomResizedCrop,
                                               sample_clip_indices)

GEN = dict(videos_per_class=2, val_per_class=1, num_frames=12, height=32, width=40, seed=3)


def pipeline(clip_len=4, frame_interval=2, **load):
    return [dict(type='LoadRGBDVideoClip', clip_len=clip_len, frame_interval=frame_interval, **load),
            dict(type='PackRGBDClipInputs')]


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    # the datasets build their transforms from the default scope's registry; other test modules may leave
    # mmseg's or mmaction's behind
    init_default_scope('mmpretrain')


@pytest.fixture(scope='module')
def video_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_video')
    generate_video_dataset(root, **GEN)
    return root


@pytest.fixture(scope='module')
def frames_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_video_frames')
    generate_video_dataset(root, rgb_format='frames', **GEN)
    return root


# ---------------------------------------------------------------------------------------------- generator

def test_generator_layout_and_decord_reads_its_videos(video_root):
    classes = (video_root / 'annotations' / 'classes.txt').read_text().split()
    assert classes == list(MOTION_CLASSES)
    train = (video_root / 'annotations' / 'train.txt').read_text().splitlines()
    val = (video_root / 'annotations' / 'val.txt').read_text().splitlines()
    assert len(train) == len(val) == 5
    rgb, depth, label = train[3].split()
    assert rgb == 'videos/bounce/v_bounce_000.mp4' and depth == 'depth/bounce/v_bounce_000' and label == '3'
    reader = decord.VideoReader(str(video_root / rgb))
    assert len(reader) == 12 and reader[0].shape == (32, 40, 3)
    pngs = sorted((video_root / depth).glob('*.png'))
    assert len(pngs) == 12
    frame = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert frame.dtype == np.uint16 and frame.shape == (32, 40)
    valid = frame[frame > 0]
    # the renderer's sensor: no return at grazing angles, in edge shadows (many at 32 rows) and in a few holes
    assert 0.75 < (frame > 0).mean() < 1 and 300 < valid.min() and valid.max() < 10000


def test_generator_is_deterministic_and_idempotent(video_root, tmp_path):
    other = tmp_path / 'again'
    generate_video_dataset(other, **GEN)
    for rel in ('depth/orbit/v_orbit_001/000005.png', 'annotations/train.txt', 'meta.json'):
        assert (other / rel).read_bytes() == (video_root / rel).read_bytes()
    first = decord.VideoReader(str(video_root / 'videos/orbit/v_orbit_001.mp4')).get_batch([0, 7]).asnumpy()
    second = decord.VideoReader(str(other / 'videos/orbit/v_orbit_001.mp4')).get_batch([0, 7]).asnumpy()
    assert np.array_equal(first, second)

    stamp = (other / 'depth/orbit/v_orbit_001/000005.png').stat().st_mtime_ns
    assert generate_video_dataset(other, **GEN)['skipped']
    assert (other / 'depth/orbit/v_orbit_001/000005.png').stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match='force'):
        generate_video_dataset(other, **dict(GEN, seed=4))
    (other / 'notes.txt').write_text('kept')
    assert not generate_video_dataset(other, force=True, **dict(GEN, seed=4))['skipped']
    assert (other / 'notes.txt').read_text() == 'kept'
    with pytest.raises(ValueError, match='val_per_class'):
        generate_video_dataset(tmp_path / 'bad', videos_per_class=2, val_per_class=2)


def test_generator_refuses_videos_decord_cannot_read_back(tmp_path):
    with pytest.raises(ValueError, match=r'decord cannot read back .*v_left_right_000\.mp4 .*rgb_format="frames"'):
        generate_video_dataset(tmp_path / 'narrow', videos_per_class=2, val_per_class=1, num_frames=4, height=32,
                               width=48)


def test_motion_class_shows_in_depth(video_root):
    """Static videos only change by sensor noise; the moving sphere changes depth by decimetres."""

    def changed_fraction(label):
        """Largest fraction of pixels whose depth changes by more than 0.3 m between frame 0 and a later one."""
        name = MOTION_CLASSES[label]
        folder = video_root / f'depth/{name}/v_{name}_000'
        frames = [cv2.imread(str(folder / f'{i:06d}.png'), cv2.IMREAD_UNCHANGED).astype(float) for i in range(12)]
        fractions = []
        for later in frames[1:]:
            both = (frames[0] > 0) & (later > 0)
            fractions.append((np.abs(frames[0] - later)[both] > 300).mean())
        return max(fractions)

    assert changed_fraction(MOTION_CLASSES.index('static')) < 0.001
    for label in range(4):
        assert changed_fraction(label) > 0.005, MOTION_CLASSES[label]


# ---------------------------------------------------------------------------------------------- dataset

@pytest.mark.parametrize('root_fixture', ['video_root', 'frames_root'])
def test_dataset_loads_clips_from_videos_and_frame_folders(root_fixture, request):
    root = request.getfixturevalue(root_fixture)
    dataset = RGBDVideoDataset(ann_file='annotations/train.txt', data_root=str(root), pipeline=pipeline())
    assert len(dataset) == 5
    sample = dataset[1]
    rgb, depth = sample['inputs']['rgb'], sample['inputs']['depth']
    assert rgb.shape == (3, 4, 32, 40) and rgb.dtype == torch.uint8
    assert depth.shape == (1, 4, 32, 40) and depth.dtype == torch.float32
    valid = depth[depth > 0]
    assert 0.3 < valid.min() and valid.max() < 10  # metres
    meta = sample['data_samples']
    folder = 'videos' if root_fixture == 'video_root' else 'frames'
    assert int(meta.gt_label) == 1 and meta.video_id == f'{folder}/toward_away/v_toward_away_000'
    assert np.all(np.diff(meta.frame_inds) == 2) and meta.total_frames == 12


def test_rgb_of_a_clip_matches_the_stored_frames(frames_root):
    dataset = RGBDVideoDataset(ann_file='annotations/val.txt', data_root=str(frames_root),
                               pipeline=pipeline(clip_len=3, frame_interval=3, test_mode=True))
    sample = dataset[0]
    inds = sample['data_samples'].frame_inds
    assert list(inds) == [2, 5, 8]  # centred: the clip spans 7 of 12 frames, 5 left over
    jpg = cv2.cvtColor(cv2.imread(str(frames_root / 'frames/left_right/v_left_right_001/000005.jpg')),
                       cv2.COLOR_BGR2RGB)
    png = cv2.imread(str(frames_root / 'depth/left_right/v_left_right_001/000005.png'), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(sample['inputs']['rgb'][:, 1].permute(1, 2, 0).numpy(), jpg)
    assert np.allclose(sample['inputs']['depth'][0, 1].numpy(), png / 1000.0)


def test_clip_sampling_random_start_and_short_videos():
    np.random.seed(0)
    starts = {int(sample_clip_indices(40, 4, 3, random_start=True)[0][0]) for _ in range(50)}
    assert min(starts) == 0 and max(starts) == 40 - 10 and len(starts) > 10
    inds, interval = sample_clip_indices(10, 4, 4, random_start=False, short_video='shrink')
    assert interval == 3 and list(inds) == [0, 3, 6, 9]
    with pytest.raises(RGBDDataError, match='has 10 frames, the clip needs 13'):
        sample_clip_indices(10, 4, 4, random_start=True, source='RGB x.mp4')
    with pytest.raises(RGBDDataError, match='fewer than the 16 frames'):
        sample_clip_indices(10, 16, 1, random_start=True, short_video='shrink')


def test_spatial_augmentation_is_identical_for_rgb_depth_and_all_frames():
    """Pixel (y, x) of frame t has R = x, G = y, B = t and depth (x + 100 y) mm: alignment is checkable."""
    frames, height, width = 4, 40, 60
    y, x = np.mgrid[0:height, 0:width]
    imgs = np.stack([np.stack([x, y, np.full_like(x, t)], -1) for t in range(frames)]).astype(np.uint8)
    depths = np.repeat(((x + 100 * y) / 1000.0)[None], frames, 0).astype(np.float32)
    crop = RGBDClipRandomResizedCrop(scale=(24, 24), crop_ratio_range=(0.2, 0.6), interpolation='nearest')
    flip = RGBDClipRandomFlip(prob=1.0)
    for seed in range(5):
        np.random.seed(seed)
        out = flip(crop(dict(imgs=imgs.copy(), depths=depths.copy())))
        rgb = out['imgs'].astype(float)
        assert rgb.shape == (4, 24, 24, 3) and out['depths'].shape == (4, 24, 24)
        assert np.allclose(out['depths'] * 1000.0, rgb[..., 0] + 100 * rgb[..., 1], atol=1e-3)
        assert np.all(rgb[:, :, :, :2] == rgb[:1, :, :, :2])  # one box for every frame
        assert np.all(rgb[..., 2] == np.arange(frames)[:, None, None])
        assert np.all(np.diff(rgb[0, 0, :, 0]) <= 0)  # flipped: x decreases to the right
    packed = PackRGBDClipInputs()(dict(out, gt_label=[0, 2]))
    assert packed['inputs']['rgb'].shape == (3, 4, 24, 24)
    assert packed['data_samples'].gt_label.tolist() == [0, 2]


def test_depth_scale_from_depth_meta(video_root, tmp_path):
    root = tmp_path / 'scaled'
    shutil.copytree(video_root / 'videos/static', root / 'videos/static')
    shutil.copytree(video_root / 'depth/static', root / 'depth/static')
    (root / 'list.txt').write_text('videos/static/v_static_000.mp4 depth/static/v_static_000\n')
    meta = root / 'depth/static/v_static_000/depth_meta.json'
    reference = RGBDVideoDataset(ann_file='list.txt', data_root=str(root),
                                 pipeline=pipeline(test_mode=True))[0]['inputs']['depth']
    meta.write_text(json.dumps(dict(depth_scale=500.0)))
    halved = RGBDVideoDataset(ann_file='list.txt', data_root=str(root),
                              pipeline=pipeline(test_mode=True))[0]['inputs']['depth']
    assert torch.allclose(halved, reference * 2)
    meta.write_text('{"scale": 2}')
    with pytest.raises(RGBDDataError, match='depth_meta.json.*depth_scale'):
        RGBDVideoDataset(ann_file='list.txt', data_root=str(root), pipeline=pipeline())[0]


# ---------------------------------------------------------------------------------------------- bad inputs

@pytest.fixture
def bad_root(video_root, tmp_path):
    """One good video and its depth, ready to be damaged."""
    shutil.copy(video_root / 'videos/orbit/v_orbit_000.mp4', tmp_path / 'clip.mp4')
    shutil.copytree(video_root / 'depth/orbit/v_orbit_000', tmp_path / 'depth')
    return tmp_path


def load_one(root, line='clip.mp4 depth 2', **load):
    (root / 'list.txt').write_text(line + '\n')
    return RGBDVideoDataset(ann_file='list.txt', data_root=str(root), pipeline=pipeline(**load))[0]


def test_bad_video_files_raise_errors_naming_the_file(bad_root):
    assert load_one(bad_root)['inputs']['rgb'].shape == (3, 4, 32, 40)
    (bad_root / 'clip.mp4').write_bytes(b'not a video' * 50)
    with pytest.raises(RGBDDataError, match=r'cannot decode video .*clip\.mp4'):
        load_one(bad_root)
    (bad_root / 'clip.mp4').write_bytes(b'')
    with pytest.raises(RGBDDataError, match=r'clip\.mp4 is empty .*zero-length'):
        load_one(bad_root)
    writer = cv2.VideoWriter(str(bad_root / 'clip.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 25, (40, 32))
    writer.release()  # a container without a single frame
    with pytest.raises(RGBDDataError, match=r'clip\.mp4.*(no video stream|no frames|zero-length)'):
        load_one(bad_root)


def test_short_videos_and_depth_mismatches_raise_errors_naming_the_file(bad_root):
    with pytest.raises(RGBDDataError, match=r'clip\.mp4 has 12 frames, the clip needs 16'):
        load_one(bad_root, clip_len=6, frame_interval=3)
    (bad_root / 'depth' / '000011.png').unlink()
    with pytest.raises(RGBDDataError, match=r'depth holds 11 depth frames but the RGB .*clip\.mp4 has 12'):
        load_one(bad_root)
    cv2.imwrite(str(bad_root / 'depth' / '000011.png'), np.ones((16, 40), np.uint16))
    with pytest.raises(RGBDDataError, match=r'depth frame .*000011\.png is \(16, 40\).*\(32, 40\)'):
        load_one(bad_root, clip_len=12, frame_interval=1)
    cv2.imwrite(str(bad_root / 'depth' / '000011.png'), np.ones((32, 40, 3), np.uint8))
    with pytest.raises(RGBDDataError, match=r'000011\.png has 3 channels'):
        load_one(bad_root, clip_len=12, frame_interval=1)
    for png in (bad_root / 'depth').glob('*.png'):
        png.unlink()
    with pytest.raises(RGBDDataError, match=r'depth frame folder .*depth holds no frames'):
        load_one(bad_root)


def test_bad_annotation_lists_raise_errors_naming_file_and_line(bad_root):
    with pytest.raises(FileNotFoundError, match=r'list\.txt:1: depth frame folder .*missing does not exist'):
        load_one(bad_root, 'clip.mp4 missing 2')
    with pytest.raises(FileNotFoundError, match=r'list\.txt:1: RGB video or frame folder .*nope\.mp4 does not'):
        load_one(bad_root, 'nope.mp4 depth')
    with pytest.raises(ValueError, match=r'list\.txt:2: expected 2 or 3 whitespace-separated fields .* got 4'):
        load_one(bad_root, '# comment\nclip.mp4 depth 2 extra')
    with pytest.raises(ValueError, match=r'list\.txt:1: expected 2 or 3 .* got 1'):
        load_one(bad_root, 'clip.mp4')
    with pytest.raises(ValueError, match=r'list\.txt:1: label "two"'):
        load_one(bad_root, 'clip.mp4 depth two')
    with pytest.raises(ValueError, match=r'annotation list .*list\.txt is empty'):
        load_one(bad_root, '\n# nothing here')
    with pytest.raises(FileNotFoundError, match='annotation list .*absent.txt does not exist'):
        read_video_list(str(bad_root / 'absent.txt'))
    assert load_one(bad_root, 'clip.mp4 depth 0,4')['data_samples'].gt_label.tolist() == [0, 4]


# ---------------------------------------------------------------------------------------------- OR-AR layout

def test_orar_layout_long_videos_with_tof_depth_and_phase_segments(tmp_path):
    root = tmp_path / 'orar'
    rng = np.random.default_rng(0)
    for case, frames in (('case001', 40), ('case002', 30)):
        rgb_dir, depth_dir = root / 'videos' / case / 'rgb', root / 'videos' / case / 'depth'
        rgb_dir.mkdir(parents=True)
        depth_dir.mkdir(parents=True)
        for i in range(frames):
            cv2.imwrite(str(rgb_dir / f'{i:06d}.jpg'), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
            depth = rng.integers(800, 4000, (24, 32)).astype(np.uint16)
            depth[:, :4] = 0  # ToF: no return signal
            cv2.imwrite(str(depth_dir / f'{i:06d}.png'), depth)
    (root / 'annotations').mkdir()
    (root / 'annotations' / 'pretrain_train.txt').write_text('case001/rgb case001/depth\ncase002/rgb case002/depth\n')
    (root / 'annotations' / 'phases.txt').write_text('\n'.join(f'phase{i}' for i in range(9)) + '\n')
    (root / 'annotations' / 'phase_segments.txt').write_text(
        '# video start end phase\ncase001 0 25 0\ncase001 20 40 1\ncase002 0 30 8\n')

    dataset = RGBDVideoDataset(ann_file='annotations/pretrain_train.txt', data_root=str(root),
                               data_prefix=dict(rgb='videos', depth='videos'), clips_per_video=3,
                               pipeline=pipeline(clip_len=8, frame_interval=4, max_depth=3.5))
    assert len(dataset) == 6
    sample = dataset[4]
    depth = sample['inputs']['depth']
    assert sample['inputs']['rgb'].shape == (3, 8, 24, 32) and depth.shape == (1, 8, 24, 32)
    assert torch.all(depth[..., :4] == 0) and depth.max() <= 3.5
    assert 'gt_label' not in sample['data_samples'] and sample['data_samples'].video_id == 'case002/rgb'

    segments = read_phase_segments(str(root / 'annotations' / 'phase_segments.txt'), num_classes=9)
    assert segments == {'case001': [(0, 25, 0), (20, 40, 1)], 'case002': [(0, 30, 8)]}
    (root / 'bad.txt').write_text('case001 10 5 1\n')
    with pytest.raises(ValueError, match=r'bad\.txt:1: need 0 <= start < end'):
        read_phase_segments(str(root / 'bad.txt'))
    (root / 'bad.txt').write_text('case001 0 5 9\n')
    with pytest.raises(ValueError, match=r'bad\.txt:1: phase 9 is outside \[0, 9\)'):
        read_phase_segments(str(root / 'bad.txt'), num_classes=9)


def test_phase_videos_keep_room_and_camera_when_the_phase_changes():
    """Only the sphere's motion may change at a phase boundary: with two static phases the frames on either side
    differ by sensor noise alone (a new room, light or camera angle would give the phase away)."""
    from m33d_mm.synthetic.phase import render_phase_video
    from m33d_mm.synthetic.renderer import keyed_rng
    for seed in range(3):
        _, depth = render_phase_video(keyed_rng(seed, 1), [4, 4], [3, 3], 32, 40)
        before, after = depth[2], depth[3]
        both = (before > 0) & (after > 0)
        assert (np.abs(before - after)[both] > 0.3).mean() < 0.002, seed
