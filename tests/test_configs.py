"""Every config under configs/ loads, and its model builds (ViT-B configs: build only, no weights)."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.utils import import_modules_from_strings
from test_config_tree import ALIASES

# configs/_base_/ holds fragments that recipes include, not configs of their own; the former names build the same
# configs as the new ones (tests/test_config_tree.py)
CONFIGS = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / 'configs').rglob('*.py')
                 if '_base_' not in p.parts and p not in ALIASES)


def test_configs_exist():
    assert any('m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py' in c for c in CONFIGS)


@pytest.mark.parametrize('path', CONFIGS, ids=[Path(c).name for c in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    imports = cfg.get('custom_imports')
    assert imports and imports.get('allow_failed_imports') is False, f'{path}: set allow_failed_imports=False'
    import_modules_from_strings(**imports)
    scope = cfg.get('default_scope', 'mmengine')
    model_cfg = cfg.model.copy()
    # weights are not part of a build test; their loading is tested on its own
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.pop('pretrained', None)
        model_cfg.backbone.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    if 'vit-base' in Path(path).name:
        assert model.backbone.embed_dims == 768 and model.backbone.num_layers == 12
