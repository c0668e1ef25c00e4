"""The synthetic generators write the same bytes for the same seed as the release of their ``VERSION``.

The digests below are those of each generator version; a change to the renderer or the writers that alters a single
pixel, depth value, label, pose or annotation line fails here. Datasets already on disk (and the results measured on
them) therefore stay valid, and a re-run with the same arguments finds them complete. A change that means to alter
the bytes bumps the generator's ``VERSION`` (written to ``meta.json``, so a dataset of another version is not taken
for complete) and adds that version's digests; the older ones stay as a record.
"""
import hashlib
from pathlib import Path

import numpy as np

from m33d_mm.synthetic.benchmark import generate_benchmark, load_benchmark_split
from m33d_mm.synthetic import phase, video
from m33d_mm.synthetic.phase import generate_phase_dataset
from m33d_mm.synthetic.renderer import keyed_rng, render_frame
from m33d_mm.synthetic.scenes import camera_pose, generate_dataset, make_scene
from m33d_mm.synthetic.video import generate_video_dataset, render_video, sample_video_params

# np.savez_compressed stamps the time into arrays.npz; its arrays are compared instead
UNSTAMPED = ('arrays.npz', )


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob('*') if p.is_file() and p.name not in UNSTAMPED):
        digest.update(str(path.relative_to(root)).encode() + b'\0' + path.read_bytes())
    return digest.hexdigest()


def _array_digest(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f'{array.dtype}{array.shape}'.encode() + np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_image_scenes_are_byte_identical(tmp_path):
    scene = make_scene(keyed_rng(3, 1, 0))
    frame = render_frame(scene, camera_pose(scene, 2), 36, 44, keyed_rng(3, 1, 1, 2))
    assert _array_digest(*frame) == IMAGE_FRAME
    generate_dataset(tmp_path, num_scenes=2, frames_per_scene=2, height=32, width=40, seed=5, val_scenes=1)
    assert _tree_digest(tmp_path) == IMAGE_TREE


def test_motion_videos_are_byte_identical(tmp_path):
    params = sample_video_params(keyed_rng(2, 3, 1), 3, 6)
    arrays, tree = VIDEO[video.VERSION]
    assert _array_digest(*render_video(params, 6, 20, 24)) == arrays
    generate_video_dataset(tmp_path, videos_per_class=1, val_per_class=0, num_frames=4, height=16, width=20,
                           seed=1, rgb_format='frames')
    assert _tree_digest(tmp_path) == tree


def test_phase_videos_are_byte_identical(tmp_path):
    generate_phase_dataset(tmp_path, num_videos=2, val_videos=1, phases_per_video=2, segment_frames=(3, 4),
                           overlap=1, height=16, width=20, seed=4)
    assert _tree_digest(tmp_path) == PHASE_TREE[phase.VERSION]


def test_benchmark_splits_are_byte_identical(tmp_path):
    generate_benchmark(tmp_path, unlabelled=2, labelled=2, val=1, test=1, height=32, width=32, seed=6)
    assert _tree_digest(tmp_path) == BENCHMARK_TREE
    arrays = [a for split in ('unlabelled', 'labelled', 'val', 'test') for a in load_benchmark_split(tmp_path, split)]
    assert _array_digest(*arrays) == BENCHMARK_ARRAYS


IMAGE_FRAME = 'e7b7482aaaadc7dd9500c8bd7a6cb3a40bec922acf9335be89821c39d4a83f50'
IMAGE_TREE = '24a3b0b6ae00ec77ff69813eed723fde3db9e68e0153da0f030b6ed3902e3d5a'
# version -> (arrays, tree); version 1 had a ray caster of its own, version 2 renders with render_frame
VIDEO = {
    1: ('87e83957206515098d3b016390dfde6eabeafd773e4a22526b79c5a3303f9572',
        '4f6f17d5ea0a4bdc5199dba2a47a5260e9bbec7a4f4fe717ac33a63efe0dc31a'),
    2: ('da8b9d0e7c1ca95e6bc8e1cc6b8785408ba1aa16c608d1075810904f9ba60cb0',
        'c57835995ce379bc882a1a1c8cc10dbf9b2532307922ef3c77b170922843292f'),
}
PHASE_TREE = {
    1: 'e7962e81414246c9a4494334ad988a273ca840536d41388e1ac7db6fdc6f20a2',
    2: 'daa713bdc70a59e2eac678c9833f81a39254d299bac80971cae99e4251301814',
}
BENCHMARK_TREE = '57255145dbcc307873cf0374ae0d549da2ca8f74cb2292d211a82bc1c698181b'
BENCHMARK_ARRAYS = 'ceffb3989f9a9f3ec46d4f3b0caaff57f48a9b8bd0aa104d36a32a485624a9f2'
