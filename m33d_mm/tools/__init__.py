"""Library code of the command-line tools in ``tools/``, importable and tested like the rest of the package.

* :mod:`.dataset_checker` -- every problem of a dataset on disk, by kind (``tools/data/check_dataset.py``).

This is the top layer: it may use every other package (the checker builds mmseg and mmaction2 datasets through
:mod:`m33d_mm.segmentation` and :mod:`m33d_mm.action`), and nothing in the package imports it.
"""
