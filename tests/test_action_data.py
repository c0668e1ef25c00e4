"""Fine-tuning datasets in mmaction2: phase windows and multi-hot labels, label budgets, clip sampling, bad input."""
import m33d_mm.action  # noqa: F401  (registers the datasets and transforms in mmaction2)
import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS
from mmengine.registry import DefaultScope

from m33d_mm.action import SampleWindowClips, phase_windows, select_labelled_videos
from m33d_mm.synthetic.phase import generate_phase_dataset
from m33d_mm.synthetic.video import generate_video_dataset

NUM_PHASES = 5
PHASE_PIPELINE = [
    dict(type='SampleWindowClips', clip_len=4, frame_interval=2),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]


@pytest.fixture(scope='module')
def phase_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_phase')
    generate_phase_dataset(root, num_videos=6, val_videos=2, phases_per_video=3, segment_frames=(10, 12),
                           overlap=2, height=32, width=32, seed=0)
    return root


@pytest.fixture(scope='module')
def frames_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_video_frames')
    generate_video_dataset(root, videos_per_class=2, val_per_class=1, num_frames=8, height=32, width=32,
                           rgb_format='frames')
    return root


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmaction'):
        return DATASETS.build(cfg)


def phase_dataset(root, **kwargs):
    cfg = dict(type='PhaseClipDataset', data_root=str(root), ann_file='annotations/phase_train.txt',
               segment_file='annotations/phase_segments.txt', data_prefix=dict(video='videos'),
               num_classes=NUM_PHASES, pipeline=PHASE_PIPELINE)
    cfg.update(kwargs)
    return build(cfg)


def test_phase_windows_cut_segments_and_label_overlaps():
    segments = [(0, 100, 0), (80, 200, 1), (90, 110, 2)]
    assert phase_windows(segments) == [(0, 100, [0]), (80, 200, [1]), (90, 110, [0, 1, 2])]
    windows = phase_windows(segments, window_len=40, min_overlap=0.5)
    # 100 frames -> 3 windows of 33/33/34, 120 frames -> 3 of 40
    assert [(a, b) for a, b, _ in windows[:3]] == [(0, 33), (33, 66), (66, 100)]
    assert windows[2] == (66, 100, [0, 1])  # 20 of its 34 frames are phase 1 (>= 17), 10 phase 2
    assert windows[3] == (80, 120, [0, 1, 2])  # 20 of 40 frames are phase 0, 20 phase 2
    assert windows[4] == (120, 160, [1])
    assert phase_windows(segments, window_len=40, min_overlap=1.0)[2] == (66, 100, [0])
    with pytest.raises(ValueError, match='min_overlap'):
        phase_windows(segments, min_overlap=0)


def test_label_budget_is_deterministic_nested_and_per_video():
    videos = [f'case_{i:03d}' for i in range(40)]
    budgets = {f: select_labelled_videos(videos, f, seed=0) for f in (0.05, 0.1, 0.2, 1.0)}
    assert [len(v) for v in budgets.values()] == [2, 4, 8, 40]
    assert set(budgets[0.05]) < set(budgets[0.1]) < set(budgets[0.2]) < set(budgets[1.0])
    assert budgets[0.1] == select_labelled_videos(videos, 0.1, seed=0)
    assert budgets[0.1] != select_labelled_videos(videos, 0.1, seed=1)
    assert select_labelled_videos(videos[:3], 0.05) and len(select_labelled_videos(videos[:3], 0.05)) == 1
    with pytest.raises(ValueError, match='data_fraction'):
        select_labelled_videos(videos, 0.0)


def test_phase_dataset_samples_multi_hot_labels_and_budget(phase_root):
    full = phase_dataset(phase_root)
    assert len(full) == 4 * 3  # 4 training videos x 3 segments
    info = full.get_data_info(0)
    assert info['frame_dir'].endswith('videos/case_000/rgb') and info['filename_tmpl'] == '{:06d}.jpg'
    assert info['label'].dtype == torch.float32 and info['label'].shape == (NUM_PHASES, )
    segments = {}
    for line in (phase_root / 'annotations' / 'phase_segments.txt').read_text().split('\n'):
        if line:
            vid, start, end, phase = line.split()
            segments.setdefault(vid, []).append((int(start), int(end), int(phase)))
    assert info['window'] == segments['case_000'][0][:2]
    assert info['label'].nonzero().flatten().tolist() == [segments['case_000'][0][2]]
    sample = full[1]
    assert sample['inputs'].shape == (1, 3, 4, 32, 32)
    assert sample['data_samples'].gt_label.tolist() == full.get_data_info(1)['label'].tolist()
    # 2 of 4 training videos, the same ones each time; their samples only
    half = phase_dataset(phase_root, label_fraction=0.5, label_seed=3)
    kept = {half.get_data_info(i)['video_id'] for i in range(len(half))}
    assert len(half) == 2 * 3 and len(kept) == 2
    assert kept == set(select_labelled_videos([f'case_{i:03d}' for i in range(4)], 0.5, seed=3))
    cut = phase_dataset(phase_root, window_len=5, min_overlap=0.2)
    labels = torch.stack([cut.get_data_info(i)['label'] for i in range(len(cut))])
    assert len(cut) > len(full) and (labels.sum(1) > 1).any()  # windows at transitions carry two phases


def test_sample_window_clips_stay_in_video_and_centre_in_window():
    results = dict(total_frames=50, window=(44, 50), frame_dir='video_x')
    out = SampleWindowClips(clip_len=4, frame_interval=3, num_clips=3, test_mode=True)(dict(results))
    inds = out['frame_inds'].reshape(3, 4)
    assert inds.max() == 49 and inds.min() >= 0  # shifted to end inside the video
    assert (np.diff(inds, axis=1) == 3).all() and out['num_clips'] == 3 and out['clip_len'] == 4
    np.random.seed(0)
    for _ in range(20):
        inds = SampleWindowClips(clip_len=4, frame_interval=2)(dict(total_frames=200, window=(100, 120)))['frame_inds']
        assert 100 <= inds[0] + 3 < 120  # the centre frame (span 7: first + 3) lies in the window
    with pytest.raises(ValueError, match=r'video_x: a clip of 16 frames 4 apart spans 61 frames.*only 50'):
        SampleWindowClips(clip_len=16, frame_interval=4)(dict(results))
    with pytest.raises(ValueError, match=r'video_x: window \[40, 60\) does not lie within'):
        SampleWindowClips(clip_len=4)(dict(results, window=(40, 60)))


def test_video_list_reads_both_list_formats(frames_root, tmp_path):
    rgbd_list = (frames_root / 'annotations' / 'train.txt').read_text().splitlines()
    mmaction_list = tmp_path / 'mmaction.txt'
    mmaction_list.write_text(''.join(f'{line.split()[0]} {line.split()[2]}\n' for line in rgbd_list))
    pipeline = [dict(type='SampleFrames', clip_len=4, frame_interval=2, num_clips=1), dict(type='RawFrameDecode'),
                dict(type='FormatShape', input_format='NCTHW'), dict(type='PackActionInputs')]
    for ann_file in (str(frames_root / 'annotations' / 'train.txt'), str(mmaction_list)):
        dataset = build(dict(type='VideoListDataset', ann_file=ann_file, data_prefix=dict(video=str(frames_root)),
                             num_classes=5, pipeline=pipeline))
        assert len(dataset) == 5
        info = dataset.get_data_info(4)
        assert info['label'] == 4 and info['total_frames'] == 8 and info['offset'] == 0
        sample = dataset[4]
        assert sample['inputs'].shape == (1, 3, 4, 32, 32) and sample['data_samples'].gt_label.tolist() == [4]


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_video_list_bad_input_names_file_and_line(frames_root, tmp_path):
    video = 'frames/left_right/v_left_right_000'

    def load(text, **kwargs):
        return build(dict(type='VideoListDataset', ann_file=_write(tmp_path / 'list.txt', text),
                          data_prefix=dict(video=str(frames_root)), num_classes=5, pipeline=[], **kwargs))

    where = str(tmp_path / 'list.txt')
    with pytest.raises(ValueError, match=rf'{where}:2: class id 7 is outside \[0, 5\)'):
        load(f'{video} 0\n{video} 7\n')
    with pytest.raises(FileNotFoundError, match=rf'{where}:1: .*missing_video.*neither a video file'):
        load('missing_video 0\n')
    with pytest.raises(FileNotFoundError, match=rf'{where}:1: video file .*gone.mp4 does not exist'):
        load('gone.mp4 0\n')
    with pytest.raises(ValueError, match=rf'{where}:1: expected 2 or 3 .*got 4'):
        load(f'{video} a b 0\n')
    with pytest.raises(ValueError, match=rf'{where}:1: several labels "0,3" in a single-label dataset'):
        load(f'{video} 0,3\n')
    assert load(f'{video} 0,3\n', multi_class=True).get_data_info(0)['label'].tolist() == [1, 0, 0, 1, 0]
    gappy = tmp_path / 'gappy'
    gappy.mkdir()
    for name in ('000000.jpg', '000002.jpg'):
        (gappy / name).write_bytes(b'')
    with pytest.raises(ValueError, match=r'gappy: expected 2 frames numbered contiguously'):
        load(f'{gappy} 0\n')


def test_phase_dataset_bad_input_names_file(phase_root, tmp_path):
    segments = (phase_root / 'annotations' / 'phase_segments.txt').read_text()
    with pytest.raises(ValueError, match=r'phase_segments.txt:\d+: phase \d is outside \[0, 3\)'):
        phase_dataset(phase_root, num_classes=3)
    bad_list = _write(tmp_path / 'split.txt', 'case_000\ncase_999\n')
    with pytest.raises(ValueError, match=r"split.txt lists 1 videos without segments .*\['case_999'\]"):
        phase_dataset(phase_root, ann_file=bad_list)
    missing = tmp_path / 'segments_missing.txt'
    _write(missing, segments + 'case_999 0 10 1\n')
    with pytest.raises(FileNotFoundError, match=r'split.txt:2: .*case_999/rgb is neither'):
        phase_dataset(phase_root, ann_file=bad_list, segment_file=str(missing))
    beyond = _write(tmp_path / 'segments_beyond.txt', segments + 'case_000 5 5000 1\n')
    with pytest.raises(ValueError, match=r'segments_beyond.txt: video case_000 has a segment ending at frame 5000, '
                       r'but .*case_000/rgb holds \d+ frames'):
        phase_dataset(phase_root, segment_file=beyond)
    short = phase_dataset(phase_root, pipeline=[dict(type='SampleWindowClips', clip_len=64, frame_interval=4)])
    with pytest.raises(ValueError, match=r'case_000/rgb: a clip of 64 frames 4 apart spans 253 frames'):
        short[0]
