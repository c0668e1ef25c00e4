"""Deterministic subsets of a dataset's samples: the low-data regimes of image and video fine-tuning.

Shared by the mmseg datasets (``data_fraction`` / ``split_subset_file``) and the mmaction2 datasets (label
budgets over whole videos), so neither framework package needs the other.
"""
from typing import List, Optional

import numpy as np

from .lists import read_split_file


def select_subset(data_list: List[dict], data_fraction: float = 1.0, data_seed: int = 0,
                  split_subset_file: Optional[str] = None) -> List[dict]:
    """Keep a deterministic subset of samples (identified by ``data_info['sample_id']``).

    Args:
        data_list (list[dict]): all samples, in a fixed order.
        data_fraction (float): fraction in ``(0, 1]`` to keep, at least one sample. The subset is the head of a
            permutation seeded by ``data_seed``, so for one seed smaller fractions are subsets of larger ones.
        data_seed (int): seed of that permutation.
        split_subset_file (str, optional): text file with one sample id per line (``#`` comments allowed);
            exclusive with ``data_fraction < 1``.

    Returns:
        list[dict]: the kept samples in their original order.
    """
    if not 0.0 < float(data_fraction) <= 1.0:
        raise ValueError(f'data_fraction must be in (0, 1], got {data_fraction}')
    if split_subset_file is not None:
        if data_fraction < 1.0:
            raise ValueError('give either data_fraction or split_subset_file, not both')
        wanted = read_split_file(split_subset_file)
        known = {info['sample_id'] for info in data_list}
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise ValueError(f'split_subset_file {split_subset_file} lists {len(unknown)} samples that the '
                             f'dataset does not have, e.g. {unknown[:5]} (ids look like '
                             f'"{data_list[0]["sample_id"] if data_list else "?"}")')
        wanted = set(wanted)
        return [info for info in data_list if info['sample_id'] in wanted]
    if data_fraction == 1.0:
        return data_list
    num_keep = max(1, int(round(len(data_list) * data_fraction)))
    keep = np.random.default_rng(data_seed).permutation(len(data_list))[:num_keep]
    return [data_list[i] for i in sorted(keep)]
