"""Synthetic RGB-D data, so every pipeline runs without real data; numpy and OpenCV only.

* :mod:`.renderer` -- the one ray caster: materials, primitives, room, lighting, sensor simulation, keyed RNG;
* :mod:`.scenes` -- indoor scenes along camera trajectories, in the ScanNet export layout
  (``tools/data/generate_synthetic_rgbd.py``);
* :mod:`.benchmark` -- one random room per frame, classes that differ only in 3-D shape (the benchmark study);
* :mod:`.video` -- RGB-D videos labelled by how an object moves (``tools/data/generate_synthetic_rgbd_video.py``);
* :mod:`.phase` -- long videos whose motion changes, with phase segments (``generate_synthetic_phase_video.py``);
* :mod:`.writers` and :mod:`.cli` -- the files they write and what their command lines share.
"""
