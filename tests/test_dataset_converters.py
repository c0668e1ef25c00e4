"""Tests for tools/dataset_converters on tiny inputs written in the real ScanNet / NYUv2 file formats."""
import importlib.util
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io

ROOT = Path(__file__).resolve().parents[1]
CONVERTERS = ROOT / 'tools' / 'dataset_converters'


def _load(path: Path, name: str):
    # By file path so the tests need neither a ``tools`` package on sys.path nor the torch-importing m33d_mm.
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


sens = _load(CONVERTERS / 'scannet_sens.py', '_test_scannet_sens')
labels = _load(CONVERTERS / 'scannet_labels.py', '_test_scannet_labels')
nyuv2 = _load(CONVERTERS / 'nyuv2.py', '_test_nyuv2')
label_maps = _load(ROOT / 'm33d_mm' / 'datasets' / 'label_maps.py', '_test_label_maps')


# --------------------------------------------------------------------------------------------------- ScanNet .sens

SENS_H, SENS_W = 24, 32
NUM_FRAMES = 5
INTRINSIC_DEPTH = np.array([[30.0, 0, 15.5, 0], [0, 31.0, 11.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
INTRINSIC_COLOR = np.array([[35.0, 0, 16.0, 0], [0, 36.0, 12.0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])


def _frame_data(i: int):
    """Deterministic colour (smooth, JPEG-friendly), depth (exercises the full uint16 range) and pose."""
    yy, xx = np.mgrid[0:SENS_H, 0:SENS_W]
    color = np.stack([xx * 6 + i * 10, yy * 8, np.full_like(xx, 40 * i + 20)], axis=-1).astype(np.uint8)
    depth = (yy * 1000 + xx * 7 + i * 3).astype(np.uint16)
    depth[0, 0] = 0
    depth[-1, -1] = 65535
    pose = np.eye(4)
    pose[:3, 3] = (i, -2.5 * i, 0.125)
    pose[0, 1] = 0.5 * i
    return color, depth, pose


def _write_sens(path: Path, num_frames: int = NUM_FRAMES, version: int = 4, color_code: int = 2,
                depth_code: int = 1, declared_frames=None, depth_shift: float = 1000.0) -> Path:
    """Writes a .sens file following the SensorData v4 layout (default: JPEG colour, zlib uint16 depth)."""
    name = b'StructureSensor'
    out = [struct.pack('<IQ', version, len(name)), name]
    for mat in (INTRINSIC_COLOR, np.eye(4), INTRINSIC_DEPTH, np.eye(4)):
        out.append(np.asarray(mat, dtype='<f4').tobytes())
    out.append(struct.pack('<ii4IfQ', color_code, depth_code, SENS_W, SENS_H, SENS_W, SENS_H, depth_shift,
                           num_frames if declared_frames is None else declared_frames))
    for i in range(num_frames):
        color, depth, pose = _frame_data(i)
        if color_code == 0:
            color_bytes = color.tobytes()
        else:
            ok, jpg = cv2.imencode('.jpg', cv2.cvtColor(color, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
            assert ok
            color_bytes = jpg.tobytes()
        depth_bytes = depth.astype('<u2').tobytes()
        if depth_code == 1:
            depth_bytes = zlib.compress(depth_bytes)
        out += [pose.astype('<f4').tobytes(),
                struct.pack('<4Q', 1000 * i, 1000 * i + 1, len(color_bytes), len(depth_bytes)),
                color_bytes, depth_bytes]
    path.write_bytes(b''.join(out))
    return path


def test_sens_header(tmp_path):
    header = sens.read_sens_header(_write_sens(tmp_path / 'scene.sens'))
    assert header.version == 4 and header.sensor_name == 'StructureSensor'
    assert (header.color_compression, header.depth_compression) == ('jpeg', 'zlib_ushort')
    assert (header.color_height, header.color_width, header.depth_height, header.depth_width) == (24, 32, 24, 32)
    assert header.depth_shift == 1000.0 and header.num_frames == NUM_FRAMES
    np.testing.assert_allclose(header.intrinsic_depth, INTRINSIC_DEPTH)
    np.testing.assert_allclose(header.intrinsic_color, INTRINSIC_COLOR)


def test_sens_frames_round_trip_and_skip(tmp_path):
    path = _write_sens(tmp_path / 'scene.sens')
    frames = list(sens.iter_sens_frames(path))
    assert [f.index for f in frames] == list(range(NUM_FRAMES))
    for index, pose, color, depth in frames:
        ref_color, ref_depth, ref_pose = _frame_data(index)
        np.testing.assert_allclose(pose, ref_pose, atol=1e-6)
        assert depth.dtype == np.uint16 and depth.shape == (SENS_H, SENS_W)
        np.testing.assert_array_equal(depth, ref_depth)  # zlib is lossless
        assert color.dtype == np.uint8 and color.shape == (SENS_H, SENS_W, 3)
        # JPEG is lossy; a channel-order mix-up would be off by far more than this.
        assert np.abs(color.astype(int) - ref_color).mean() < 3
    assert [f.index for f in sens.iter_sens_frames(path, frame_skip=2)] == [0, 2, 4]
    assert [f.index for f in sens.iter_sens_frames(path, frame_skip=10)] == [0]


def test_sens_export(tmp_path):
    path = _write_sens(tmp_path / 'scene.sens')
    n = sens.export_sens(path, tmp_path / 'out', frame_skip=2, progress=False)
    assert n == 3
    assert sorted(p.name for p in (tmp_path / 'out' / 'depth').iterdir()) == \
        ['000000.png', '000002.png', '000004.png']
    depth = cv2.imread(str(tmp_path / 'out' / 'depth' / '000002.png'), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16
    np.testing.assert_array_equal(depth, _frame_data(2)[1])
    color = cv2.imread(str(tmp_path / 'out' / 'color' / '000004.jpg'))[..., ::-1]
    assert np.abs(color.astype(int) - _frame_data(4)[0]).mean() < 4
    np.testing.assert_allclose(np.loadtxt(tmp_path / 'out' / 'pose' / '000004.txt'), _frame_data(4)[2], atol=1e-6)
    np.testing.assert_allclose(np.loadtxt(tmp_path / 'out' / 'intrinsic.txt'), INTRINSIC_DEPTH, atol=1e-6)


def test_sens_raw_streams_and_depth_shift(tmp_path):
    path = _write_sens(tmp_path / 'raw.sens', color_code=0, depth_code=0, depth_shift=500.0)
    header = sens.read_sens_header(path)
    assert (header.color_compression, header.depth_compression) == ('raw', 'raw_ushort')
    _, _, color, depth = next(sens.iter_sens_frames(path))
    np.testing.assert_array_equal(color, _frame_data(0)[0])
    np.testing.assert_array_equal(depth, _frame_data(0)[1])
    # 500 units per metre -> exported millimetres are twice the raw values; unrepresentable ones become invalid.
    sens.export_sens(path, tmp_path / 'out', frame_skip=5, progress=False)
    exported = cv2.imread(str(tmp_path / 'out' / 'depth' / '000000.png'), cv2.IMREAD_UNCHANGED)
    expected = _frame_data(0)[1].astype(int) * 2
    expected[expected > 65535] = 0
    np.testing.assert_array_equal(exported, expected)


def test_sens_export_resize(tmp_path):
    path = _write_sens(tmp_path / 'scene.sens')
    sens.export_sens(path, tmp_path / 'out', frame_skip=4, resize=(12, 16), progress=False)
    depth = cv2.imread(str(tmp_path / 'out' / 'depth' / '000004.png'), cv2.IMREAD_UNCHANGED)
    color = cv2.imread(str(tmp_path / 'out' / 'color' / '000004.jpg'))
    assert depth.shape == (12, 16) and depth.dtype == np.uint16 and color.shape == (12, 16, 3)
    # Nearest-neighbour: every output depth is one of the input depths, never a blend across pixels.
    assert np.isin(depth, _frame_data(4)[1]).all()
    intrinsic = np.loadtxt(tmp_path / 'out' / 'intrinsic.txt')
    np.testing.assert_allclose(intrinsic[0, [0, 2]], INTRINSIC_DEPTH[0, [0, 2]] / 2)
    np.testing.assert_allclose(intrinsic[1, [1, 2]], INTRINSIC_DEPTH[1, [1, 2]] / 2)


def test_sens_truncated_names_file_and_frame(tmp_path):
    path = _write_sens(tmp_path / 'cut.sens')
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 50])  # inside the last frame's depth bytes
    frames = sens.iter_sens_frames(path, frame_skip=2)
    assert [next(frames).index, next(frames).index] == [0, 2]
    with pytest.raises(sens.SensFormatError, match=r'cut\.sens.*frame 4'):
        next(frames)
    # A frame count the file cannot hold is reported from the header alone.
    path = _write_sens(tmp_path / 'short.sens', num_frames=1, declared_frames=10 ** 6)
    with pytest.raises(ValueError, match=r'short\.sens.*1000000 frames'):
        sens.read_sens_header(path)


@pytest.mark.parametrize('kwargs, pattern', [
    (dict(version=3), r'bad\.sens.*version 3'),
    (dict(color_code=7), r'bad\.sens.*unknown compression'),
    (dict(depth_code=2), r'bad\.sens.*unsupported depth compression'),
])
def test_sens_bad_header(tmp_path, kwargs, pattern):
    path = _write_sens(tmp_path / 'bad.sens', **kwargs)
    with pytest.raises(ValueError, match=pattern):
        list(sens.iter_sens_frames(path))


def test_sens_cli_scans_dir(tmp_path):
    for scene in ('scene0000_00', 'scene0001_00'):
        (tmp_path / 'scans' / scene).mkdir(parents=True)
        _write_sens(tmp_path / 'scans' / scene / f'{scene}.sens')
    assert sens.main([str(tmp_path / 'scans'), str(tmp_path / 'out'), '--frame-skip', '3']) == 0
    for scene in ('scene0000_00', 'scene0001_00'):
        assert sorted(p.name for p in (tmp_path / 'out' / scene / 'color').iterdir()) == ['000000.jpg', '000003.jpg']


def test_cli_help():
    for script in ('scannet_sens.py', 'scannet_labels.py', 'nyuv2.py'):
        result = subprocess.run([sys.executable, str(CONVERTERS / script), '--help'], capture_output=True, text=True)
        assert result.returncode == 0 and 'usage' in result.stdout, result.stderr


# -------------------------------------------------------------------------------------------------- ScanNet labels

TSV = ('id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class\n'
       '1\twall\twall\t8277\t1\t12\twall\twall\n'
       '2\tchair\tchair\t4646\t5\t4\tchair\tchair\n'
       '40\tdesk\tdesk\t680\t14\t10\tdesk\tdesk\n'
       '1163\tstick\tstick\t1\t40\t7\t\totherprop\n')


def test_label_map_and_conversion(tmp_path):
    tsv = tmp_path / 'scannetv2-labels.combined.tsv'
    tsv.write_text(TSV)
    mapping = labels.load_label_map(tsv)
    assert mapping == {1: 1, 2: 5, 40: 14, 1163: 40}
    raw = np.array([[0, 1, 2], [40, 1163, 999]], dtype=np.uint16)
    out = labels.convert_label_image(raw, mapping)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 1, 5], [14, 40, 0]])
    with pytest.raises(ValueError, match='999'):
        labels.convert_label_image(raw, mapping, strict=True)
    bad = tmp_path / 'bad.tsv'
    bad.write_text('id\tcategory\n1\twall\n')
    with pytest.raises(ValueError, match=r'bad\.tsv.*nyu40id'):
        labels.load_label_map(bad)


def test_export_labels(tmp_path):
    tsv = tmp_path / 'labels.tsv'
    tsv.write_text(TSV)
    label_dir = tmp_path / 'scene0000_00' / 'label-filt'
    label_dir.mkdir(parents=True)
    raw = np.zeros((24, 32), dtype=np.uint16)
    raw[:, 16:] = 1163
    raw[12:, :] = 40
    for i in range(5):
        cv2.imwrite(str(label_dir / f'{i}.png'), raw)
    assert labels.export_labels(label_dir, tmp_path / 'out', tsv, frame_skip=2, resize=(12, 16),
                                progress=False) == 3
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['000000.png', '000002.png', '000004.png']
    out = cv2.imread(str(tmp_path / 'out' / '000002.png'), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint8 and out.shape == (12, 16)
    assert out[0, 0] == 0 and out[0, 15] == 40 and out[11, 0] == 14
    cv2.imwrite(str(label_dir / '6.png'), np.full((24, 32), 999, np.uint16))
    with pytest.raises(ValueError, match=r'6\.png.*999'):
        labels.export_labels(label_dir, tmp_path / 'out', tsv, frame_skip=2, strict=True, progress=False)


def test_nyu40_to_scannet20():
    src = np.array([1, 13, 14, 39, 0, 40, 36, 24], dtype=np.uint8)
    np.testing.assert_array_equal(label_maps.nyu40_to_scannet20(src), [0, 255, 12, 19, 255, 255, 18, 14])
    assert label_maps.nyu40_to_scannet20(src.reshape(2, 4)).shape == (2, 4)
    with pytest.raises(ValueError, match='41'):
        label_maps.nyu40_to_scannet20(np.array([[1, 41]]))
    assert len(label_maps.SCANNET20_CLASSES) == 20 and len(label_maps.NYU40_CLASSES) == 40
    # Every ScanNet20 class is the NYU40 class it comes from (modulo the NYU spelling of refrigerator).
    for train_id, nyu_id in enumerate(label_maps.SCANNET20_NYU40_IDS):
        assert label_maps.NYU40_TO_SCANNET20[nyu_id] == train_id
        assert label_maps.NYU40_CLASSES[nyu_id - 1].replace('refridgerator', 'refrigerator') == \
            label_maps.SCANNET20_CLASSES[train_id]
    # scannet_labels re-exports the same table.
    np.testing.assert_array_equal(labels.NYU40_TO_SCANNET20, label_maps.NYU40_TO_SCANNET20)


def test_nyu40_to_nyu40_train():
    np.testing.assert_array_equal(label_maps.nyu40_to_nyu40_train(np.array([0, 1, 40], np.uint16)), [255, 0, 39])
    with pytest.raises(ValueError, match='41, 300'):
        label_maps.nyu40_to_nyu40_train(np.array([41, 300, 5]))


# ---------------------------------------------------------------------------------------------------------- NYUv2

NYU_N, NYU_H, NYU_W = 4, 12, 16
NUM_CLASSES = 894


def _nyu_samples():
    """(N, H, W, 3) RGB, (N, H, W) depth metres, (N, H, W) 894-class labels, all asymmetric in H and W."""
    yy, xx = np.mgrid[0:NYU_H, 0:NYU_W]
    rgb = np.stack([np.stack([xx * 15 + n, yy * 20, np.full_like(xx, 50 * n)], -1) for n in range(NYU_N)])
    depth = np.stack([(yy * NYU_W + xx + 1) * 0.001 * (n + 1) for n in range(NYU_N)]).astype(np.float32)
    depth[1, 0, 0] = 0.0
    lab = np.stack([(yy * 3 + xx * 50 + n) % (NUM_CLASSES + 1) for n in range(NYU_N)]).astype(np.uint16)
    return rgb.astype(np.uint8), depth, lab


def _class_map():
    return (np.arange(NUM_CLASSES) % 40 + 1).reshape(1, NUM_CLASSES).astype(np.float64)


def _write_nyu(tmp_path, labels_override=None, drop=None, train=(1, 3), test=(2, 4)):
    tmp_path.mkdir(exist_ok=True)
    rgb, depth, lab = _nyu_samples()
    if labels_override is not None:
        lab = labels_override
    mat = tmp_path / 'nyu_depth_v2_labeled.mat'
    # MATLAB v7.3 = HDF5 behind a 512-byte user block, with every array's dimensions reversed.
    with h5py.File(mat, 'w', userblock_size=512) as f:
        datasets = {'images': rgb.transpose(0, 3, 2, 1), 'depths': depth.transpose(0, 2, 1),
                    'labels': lab.transpose(0, 2, 1)}
        for key, value in datasets.items():
            if key != drop:
                f.create_dataset(key, data=value)
    with open(mat, 'r+b') as f:
        f.write(b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .')
    splits = tmp_path / 'splits.mat'
    scipy.io.savemat(splits, {'trainNdxs': np.array(train, float).reshape(-1, 1),
                              'testNdxs': np.array(test, float).reshape(-1, 1)})
    class_map = tmp_path / 'classMapping40.mat'
    scipy.io.savemat(class_map, {'mapClass': _class_map()})
    return mat, splits, class_map


def test_nyuv2_convert(tmp_path):
    mat, splits, class_map = _write_nyu(tmp_path)
    out = tmp_path / 'out'
    assert nyuv2.convert_nyuv2(mat, splits, class_map, out, progress=False) == {'train': 2, 'test': 2}
    assert (out / 'train.txt').read_text().split() == ['0001', '0003']
    assert (out / 'test.txt').read_text().split() == ['0002', '0004']
    rgb, depth, lab = _nyu_samples()
    lut = np.concatenate([[0], _class_map().ravel()]).astype(np.uint8)
    for split, idx in (('train', 1), ('test', 2), ('train', 3), ('test', 4)):
        stem = f'{idx:04d}.png'
        got_rgb = cv2.imread(str(out / split / 'rgb' / stem))[..., ::-1]
        got_depth = cv2.imread(str(out / split / 'depth' / stem), cv2.IMREAD_UNCHANGED)
        got_lab = cv2.imread(str(out / split / 'label' / stem), cv2.IMREAD_UNCHANGED)
        assert got_rgb.shape == (NYU_H, NYU_W, 3) and got_depth.dtype == np.uint16 and got_lab.dtype == np.uint8
        np.testing.assert_array_equal(got_rgb, rgb[idx - 1])
        np.testing.assert_array_equal(got_depth, np.rint(depth[idx - 1].astype(np.float64) * 1000))
        np.testing.assert_array_equal(got_lab, lut[lab[idx - 1]])
    # Orientation: depth grows along rows by W per row, so a transposed output cannot match this.
    assert cv2.imread(str(out / 'train' / 'depth' / '0001.png'), cv2.IMREAD_UNCHANGED)[1, 0] == NYU_W + 1
    assert cv2.imread(str(out / 'test' / 'depth' / '0002.png'), cv2.IMREAD_UNCHANGED)[0, 0] == 0


def test_nyuv2_bad_inputs(tmp_path):
    mat, splits, class_map = _write_nyu(tmp_path / 'a', drop='depths')
    with pytest.raises(ValueError, match=r'nyu_depth_v2_labeled\.mat.*depths'):
        nyuv2.convert_nyuv2(mat, splits, class_map, tmp_path / 'out', progress=False)

    lab = _nyu_samples()[2]
    lab[2, 5, 7] = 900
    mat, splits, class_map = _write_nyu(tmp_path / 'b', labels_override=lab)
    with pytest.raises(ValueError, match=r'labeled\.mat.*labels.*sample 3.*900'):
        nyuv2.convert_nyuv2(mat, splits, class_map, tmp_path / 'out', progress=False)

    mat, splits, class_map = _write_nyu(tmp_path / 'c', labels_override=_nyu_samples()[2][:3])
    with pytest.raises(ValueError, match=r'labeled\.mat.*labels.*mismatched'):
        nyuv2.convert_nyuv2(mat, splits, class_map, tmp_path / 'out', progress=False)

    mat, splits, class_map = _write_nyu(tmp_path / 'd', test=(2, 5))
    with pytest.raises(ValueError, match=r'splits\.mat.*testNdxs.*1\.\.4'):
        nyuv2.convert_nyuv2(mat, splits, class_map, tmp_path / 'out', progress=False)

    scipy.io.savemat(class_map, {'wrongKey': _class_map()})
    with pytest.raises(ValueError, match=r'classMapping40\.mat.*mapClass'):
        nyuv2.load_class_mapping(class_map)
