"""Skip-and-log policy for samples that fail to load, for long runs over large exports (off by default).

Wrap the dataset of a config to use it::

    custom_imports = dict(imports=['m33d_mm.models', 'm33d_mm.datasets', 'm33d_mm.datasets.robust'], ...)
    train_dataloader = dict(dataset=dict(_delete_=True, type='RobustDataset', max_bad_fraction=0.01,
                                         dataset=dict(type='RGBDFrameDataset', ...)))

Segmentation, depth and video configs wrap their datasets the same way: :mod:`m33d_mm.segmentation` and
:mod:`m33d_mm.action` register this class in mmseg's and mmaction2's dataset registries too.

Check the data first with ``tools/data/check_dataset.py``; this wrapper is the safety net for what appears
during a run (files damaged on a network file system, a partially synced export).
"""
import json
import logging
import math
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Union

import cv2
from mmengine.dataset import BaseDataset
from mmengine.dist import get_rank
from mmengine.logging import MMLogger, print_log
from mmpretrain.registry import DATASETS
from torch.utils.data import Dataset, get_worker_info

# Loading errors a damaged sample raises: RGBDDataError (a ValueError) from the RGB-D loaders, OSError from file
# access, ValueError from decoders, cv2.error and AssertionError ("failed to load image") from mmcv's image
# loading in mmseg / mmaction pipelines. Anything else (TypeError, KeyError, ...) is a bug and still stops the run.
SKIPPED_ERRORS = (OSError, ValueError, cv2.error, AssertionError)
DEFAULT_LOG_NAME = 'bad_samples.jsonl'


class TooManyBadSamplesError(RuntimeError):
    """More samples failed to load than ``RobustDataset.max_bad_fraction`` allows."""


@DATASETS.register_module()
class RobustDataset(Dataset):
    """Return another sample when one fails to load, log it, and stop when too many have failed.

    A sample whose loading raises ``OSError`` or ``ValueError`` (which includes
    :class:`~m33d_mm.datasets.RGBDDataError`) is replaced by the next index that loads (``idx + 1``, wrapping
    around), so the replacement is deterministic. Each new bad sample is appended to a JSON-lines log (index,
    files, error, process, running count) and reported as a warning. Once more than ``max_bad_fraction`` of the
    dataset's samples have failed, :class:`TooManyBadSamplesError` stops the run, naming the count and the log.

    **Counting across data-loader workers.** Workers are separate processes. The log file is the shared
    record: on each failure a process re-reads it, so the count covers every worker (and every rank writing
    to the same file), no sample is logged twice, and the samples other processes logged are skipped from
    then on without being loaded. Lines are appended with a single ``write`` in append mode, which keeps concurrent appends
    from interleaving. Without a log file (no ``log_file`` and no mmengine run to take the folder from) each
    process counts only the failures it has seen, so the limit then applies per worker process.

    Args:
        dataset (dict | BaseDataset): the wrapped dataset or its config.
        max_bad_fraction (float): largest tolerated fraction of samples that fail to load, in [0, 1].
        log_file (str, optional): JSON-lines log of bad samples. Default: ``bad_samples.jsonl`` in the log
            folder of the current mmengine run (``<work_dir>/<timestamp>/``), when there is one.
    """

    def __init__(self, dataset: Union[dict, BaseDataset], max_bad_fraction: float = 0.01,
                 log_file: Optional[str] = None):
        if not 0 <= max_bad_fraction <= 1:
            raise ValueError(f'RobustDataset.max_bad_fraction must be in [0, 1], got {max_bad_fraction}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.max_bad_fraction = float(max_bad_fraction)
        self.log_file = log_file if log_file is not None else self._run_log_file()
        # index -> "first file: error" of every bad sample this process knows of (its own and the log's).
        self._bad: Dict[int, str] = {}

    @staticmethod
    def _run_log_file() -> Optional[str]:
        # The runner builds datasets after its logger, whose log file lies in <work_dir>/<timestamp>/.
        log_file = MMLogger.get_current_instance().log_file
        return osp.join(osp.dirname(log_file), DEFAULT_LOG_NAME) if log_file else None

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int):
        size = len(self)
        candidate = idx
        for _ in range(size):
            if candidate not in self._bad:
                try:
                    return self.dataset[candidate]
                except SKIPPED_ERRORS as err:
                    self._record(candidate, err, requested=idx)
            candidate = (candidate + 1) % size
        raise TooManyBadSamplesError(f'RobustDataset: all {size} samples failed to load; see {self.log_file}')

    def bad_samples(self) -> Dict[int, str]:
        """Bad samples known to this process: index -> first file and error."""
        self._merge_log()
        return dict(self._bad)

    def _merge_log(self) -> None:
        if not self.log_file or not osp.isfile(self.log_file):
            return
        with open(self.log_file) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:  # a line another process is still appending
                    continue
                self._bad.setdefault(int(record['index']), record['summary'])

    def _files(self, idx: int) -> Dict[str, str]:
        info = self.dataset.get_data_info(idx)
        return {k: v for k, v in info.items() if isinstance(v, str) and k.endswith(('_path', '_dir'))}

    def _record(self, idx: int, err: Exception, requested: int) -> None:
        files = self._files(idx)
        error = f'{type(err).__name__}: {err}'[:1000]
        # Loader errors name their file; other errors get the sample's first file in front.
        first = next(iter(files.values()), f'sample {idx}')
        summary = error if any(path in error for path in files.values()) else f'{first}: {error}'
        self._merge_log()
        new = idx not in self._bad
        self._bad[idx] = summary
        size = len(self)
        if new and self.log_file:
            record = dict(index=idx, files=files, error=error, summary=summary, process=_process_name(),
                          bad_so_far=len(self._bad), dataset_size=size,
                          time=time.strftime('%Y-%m-%dT%H:%M:%S'))
            os.makedirs(osp.dirname(osp.abspath(self.log_file)), exist_ok=True)
            fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (json.dumps(record) + '\n').encode())
            finally:
                os.close(fd)
        count = len(self._bad)
        # The epsilon keeps float error (0.29 * 100 = 28.999...) from lowering the allowance by one.
        allowed = math.floor(self.max_bad_fraction * size + 1e-9)
        where = f'; logged in {self.log_file}' if self.log_file else ''
        if count > allowed:
            shown: List[str] = [self._bad[i] for i in sorted(self._bad)[:5]]
            raise TooManyBadSamplesError(
                f'RobustDataset: {count} of {size} samples ({count / size:.2%}) failed to load, more than '
                f'max_bad_fraction={self.max_bad_fraction:g} allows{where}. Run tools/data/check_dataset.py on '
                'the data. First bad samples:\n  ' + '\n  '.join(shown))
        print_log(f'RobustDataset: skipped sample {idx} (requested {requested}) -- {summary}; {count} of {size} '
                  f'samples bad so far, at most {allowed} allowed (max_bad_fraction={self.max_bad_fraction:g})'
                  f'{where}', logger='current', level=logging.WARNING)


def _process_name() -> str:
    worker = get_worker_info()
    return f'rank {get_rank()} ' + (f'worker {worker.id}' if worker is not None else 'main process')

