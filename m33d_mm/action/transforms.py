"""Clip sampling inside a frame window of a long video (phase detection)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmaction.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SampleWindowClips(BaseTransform):
    """Sample clips whose centre frames lie in the sample's window of a (long) video.

    mmaction2's ``SampleFrames`` samples within ``[0, total_frames)`` and wraps around (repeats frames) when
    the video is shorter than the clip; a phase segment of a long video is a window of it instead. Here a clip
    is centred on a frame of ``results['window'] = (start, end)`` (default: the whole video) and shifted, if
    it would cross either end of the video, to lie inside the video -- a short segment thus gets a clip that
    also shows its neighbourhood rather than repeated frames. Training draws each clip's centre uniformly in
    the window; ``test_mode`` spreads ``num_clips`` centres evenly over it.

    Place it after ``DecordInit`` (video files: ``total_frames`` comes from the decoder) or first (frame
    folders: the dataset gives ``total_frames``); decode with ``DecordDecode`` / ``RawFrameDecode``.

    Required keys: ``total_frames``, optionally ``window``, ``filename`` / ``frame_dir`` (for messages).
    Added keys: ``frame_inds`` ``(num_clips * clip_len,)``, ``clip_len``, ``frame_interval``, ``num_clips``.

    Args:
        clip_len (int): frames per clip.
        frame_interval (int): temporal stride between the frames of a clip.
        num_clips (int): clips per sample.
        test_mode (bool): deterministic, evenly spread clips.

    Raises:
        ValueError: naming the video, if it is shorter than one clip span ``(clip_len - 1) * frame_interval + 1``
            or the window ends beyond its last frame (an annotation that does not fit the video).
    """

    def __init__(self, clip_len: int, frame_interval: int = 1, num_clips: int = 1, test_mode: bool = False):
        if clip_len < 1 or frame_interval < 1 or num_clips < 1:
            raise ValueError(f'SampleWindowClips: clip_len, frame_interval and num_clips must be >= 1, got '
                             f'{clip_len}, {frame_interval}, {num_clips}')
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.num_clips = num_clips
        self.test_mode = test_mode

    def transform(self, results: dict) -> dict:
        total = int(results['total_frames'])
        start, end = results.get('window', (0, total))
        video = results.get('filename', results.get('frame_dir', '<video>'))
        span = (self.clip_len - 1) * self.frame_interval + 1
        if span > total:
            raise ValueError(f'{video}: a clip of {self.clip_len} frames {self.frame_interval} apart spans {span} '
                             f'frames, but the video has only {total}')
        if not 0 <= start < end <= total:
            raise ValueError(f'{video}: window [{start}, {end}) does not lie within the video\'s {total} frames '
                             '(does the segment annotation belong to this video?)')
        if self.test_mode:
            centres = start + ((np.arange(self.num_clips) + 0.5) * (end - start) / self.num_clips).astype(np.int64)
        else:
            centres = np.random.randint(start, end, size=self.num_clips)
        first = np.clip(centres - (span - 1) // 2, 0, total - span)
        frame_inds = first[:, None] + np.arange(self.clip_len)[None] * self.frame_interval
        results.update(frame_inds=frame_inds.reshape(-1).astype(np.int64), clip_len=self.clip_len,
                       frame_interval=self.frame_interval, num_clips=self.num_clips)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(clip_len={self.clip_len}, frame_interval={self.frame_interval}, '
                f'num_clips={self.num_clips}, test_mode={self.test_mode})')
