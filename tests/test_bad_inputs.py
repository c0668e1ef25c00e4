"""Bad inputs on the image side that tests/test_data.py, test_models.py and test_checkpoint.py do not already
cover; each gives one error naming the file or key. docs/reliability.md has the whole table."""
import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from m33d_mm.datasets import LoadRGBDFromFile, RGBDDataError, RGBDFrameDataset, read_rgb

STAGE1 = 'configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Pin mmengine's global default scope for these builds (other test modules set it, e.g. to mmseg); the
    runners built here leave the scope as it was."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def pair(tmp_path):
    """A valid colour/depth pair (24 x 32) to damage."""
    rng = np.random.default_rng(0)
    color, depth = tmp_path / 'color.jpg', tmp_path / 'depth.png'
    cv2.imwrite(str(color), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    cv2.imwrite(str(depth), rng.integers(500, 4000, (24, 32)).astype(np.uint16))
    return color, depth


def load(color, depth):
    return LoadRGBDFromFile().transform(dict(img_path=str(color), depth_path=str(depth)))


@pytest.mark.parametrize('value', [np.nan, np.inf, 1.5])
def test_float_depth_maps_are_refused_so_nan_and_inf_never_reach_the_model(pair, value):
    color, depth = pair
    ok, tiff = cv2.imencode('.tiff', np.full((24, 32), value, np.float32))
    depth.write_bytes(tiff.tobytes())  # a float TIFF behind a .png name, as a careless converter would write
    with pytest.raises(RGBDDataError, match=r'depth map .*depth\.png is float32, expected uint16'):
        load(color, depth)


def test_numpy_depth_files_are_not_images(pair, tmp_path):
    color, _ = pair
    npy = tmp_path / 'depth.npy'
    np.save(npy, np.full((24, 32), np.nan, np.float32))
    with pytest.raises(RGBDDataError, match=r'depth map .*depth\.npy is empty or corrupt'):
        load(color, npy)


@pytest.mark.parametrize('kind,keep', [('jpg', 0.5), ('jpg', 0.9), ('jpg', -2), ('png', 0.9)])
def test_truncated_files_are_refused_naming_the_file(pair, kind, keep):
    color, depth = pair
    victim = color if kind == 'jpg' else depth
    data = victim.read_bytes()
    victim.write_bytes(data[:keep] if keep < 0 else data[:int(len(data) * keep)])
    what = 'colour image' if kind == 'jpg' else 'depth map'
    with pytest.raises(RGBDDataError, match=rf'{what} .*{victim.name} is empty or corrupt'):
        load(color, depth)


@pytest.mark.parametrize('channels', [1, 4])
def test_grey_and_rgba_colour_images_are_converted_to_rgb(tmp_path, channels):
    grey = np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))
    image = grey if channels == 1 else np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    path = tmp_path / ('grey.jpg' if channels == 1 else 'rgba.png')
    cv2.imwrite(str(path), image)
    rgb = read_rgb(str(path))
    assert rgb.shape == (24, 32, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])


def test_a_split_naming_a_missing_scene_names_it(synthetic_root, tmp_path):
    split = tmp_path / 'split.txt'
    split.write_text('scene0000_00\nscene0042_00\n')
    with pytest.raises(FileNotFoundError, match=r'scene scene0042_00: colour folder .*scene0042_00/color does '
                       r'not exist'):
        RGBDFrameDataset(str(synthetic_root), split_file=str(split), frame_skip=1)


@pytest.mark.parametrize('key,registry,section', [
    ('model.backbone.mask_ratoi', 'MODELS', 'model'),
    ('train_dataloader.dataset.frame_skp', 'DATASETS', 'train_dataloader.dataset'),
])
def test_a_typo_in_a_config_key_names_the_key(synthetic_root, key, registry, section):
    from mmpretrain import registry as registries
    cfg = Config.fromfile(STAGE1)
    cfg.merge_from_dict({key: 1, 'train_dataloader.dataset.data_root': str(synthetic_root)})
    part = cfg
    for name in section.split('.'):
        part = part[name]
    typo = key.rsplit('.', 1)[1]
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{typo}'"):
        getattr(registries, registry).build(part)


def test_a_typo_in_a_transform_key_names_the_key():
    from mmpretrain.registry import TRANSFORMS
    with pytest.raises(TypeError, match=r"RGBDRandomFlip.__init__\(\) got an unexpected keyword argument 'prb'"):
        TRANSFORMS.build(dict(type='RGBDRandomFlip', prb=0.5))
