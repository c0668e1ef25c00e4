"""The shape of configs/: former names are aliases, recipes stay short over their bases, one set of no-decay rules
holds in every recipe, and the benchmark study's configs build exactly as they did before the configs moved onto
configs/_base_/.

That every config loads and its model builds is tests/test_configs.py.
"""
import io
import json
import re
import tokenize
from pathlib import Path

import pytest
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from mmengine.utils import import_modules_from_strings

from conftest import REPO

CONFIGS = REPO / 'configs'
ALIAS = re.compile(r"_base_ = '\./(?P<new>[\w.-]+\.py)'\nwork_dir = '\./work_dirs/(?P<stem>[\w.-]+)'\n")
# code lines over a config's bases: recipes, and the quick-start configs that shrink them
RECIPE_BUDGET = 40
QUICKSTART_BUDGET = 15
# quick-start configs still over their budget, with the count they may not exceed (a schedule of their own next to
# the shared bases); a config that shrinks under the budget leaves this list
OVER_BUDGET = {
    'm33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video.py': 16,
}
NO_DECAY_NAMES = ('pos_embed', 'cls_token', 'mask_token', 'modality_embed')


def code_lines(path: Path) -> int:
    """Lines holding code: not blank, not only a comment (a statement over several lines counts each line)."""
    lines = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines)


def aliases():
    found = {}
    for path in sorted(CONFIGS.rglob('*.py')):
        code = ''.join(line for line in path.read_text().splitlines(keepends=True) if not line.startswith('#'))
        match = ALIAS.fullmatch(code)
        if match:
            found[path] = match
    return found


ALIASES = aliases()
RECIPES = sorted(p for p in (CONFIGS / 'm33d').glob('*.py') if p not in ALIASES)
QUICKSTARTS = sorted(p for p in (CONFIGS / 'quickstart').glob('*.py') if p not in ALIASES)


def test_every_former_name_is_an_alias():
    former = {'vitb_scannet_pretrain_stage1', 'vitb_scannet_pretrain', 'vitb_scannet_pretrain_fsdp',
              'vitb_ucf101_pretrain', 'vitb_orar_pretrain', 'vitb_scannet_seg', 'vitb_nyuv2_seg', 'vitb_nyuv2_depth',
              'vitb_ucf101_finetune', 'vitb_orar_finetune', 'mmpretrain_vit_rgbdvit_example',
              'mmseg_upernet_rgbdvit_example', 'm33d_tiny_synthetic_stage1', 'm33d_tiny_synthetic_stage2',
              'm33d_tiny_synthetic_seg', 'm33d_tiny_synthetic_depth', 'm33d_tiny_synthetic_video_pretrain',
              'm33d_tiny_synthetic_video_recognition', 'm33d_tiny_synthetic_phase', 'mae_tiny_synthetic_rgb'}
    assert {p.stem for p in ALIASES} == former
    for path, match in ALIASES.items():
        assert (path.parent / match['new']).is_file(), f'{path}: {match["new"]} does not exist'
        assert match['stem'] == Path(match['new']).stem, f'{path}: work_dir must be the new name\'s'


@pytest.mark.parametrize('path', list(ALIASES), ids=[p.name for p in ALIASES])
def test_alias_builds_the_new_config(path):
    match = ALIASES[path]
    old = Config.fromfile(str(path)).to_dict()
    new = Config.fromfile(str(path.parent / match['new'])).to_dict()
    assert old.pop('work_dir') == f'./work_dirs/{match["stem"]}'
    assert 'work_dir' not in new
    assert old == new


def test_names_follow_the_openmmlab_convention():
    # {algorithm}_{backbone}_{schedule}_{dataset}: four underscore-separated fields (a fifth for the pre-training
    # of a fine-tuning backbone), no underscores inside a field
    for path in RECIPES + QUICKSTARTS:
        fields = path.stem.split('_')
        assert len(fields) in (4, 5), f'{path.name}: expected {{algorithm}}_{{backbone}}_{{schedule}}_{{dataset}}'


@pytest.mark.parametrize('path', RECIPES + QUICKSTARTS, ids=[p.name for p in RECIPES + QUICKSTARTS])
def test_line_budget(path):
    lines = code_lines(path)
    if path in QUICKSTARTS and path.name in OVER_BUDGET:
        assert QUICKSTART_BUDGET < lines <= OVER_BUDGET[path.name], \
            f'{path.name}: {lines} code lines; update OVER_BUDGET (ceiling {OVER_BUDGET[path.name]})'
        return
    budget = QUICKSTART_BUDGET if path in QUICKSTARTS else RECIPE_BUDGET
    assert lines <= budget, f'{path.name}: {lines} code lines over its bases, budget {budget}'


def test_every_config_keeps_allow_failed_imports_false():
    for path in sorted(CONFIGS.rglob('*.py')):
        text = path.read_text()
        if re.search(r'^custom_imports = ', text, re.M):
            assert 'allow_failed_imports=False' in text, f'{path}: custom_imports must set allow_failed_imports=False'


def _decays(cfg_path: Path):
    """{parameter name: weight decay} of the optimiser a config builds for its (weight-free) model."""
    cfg = Config.fromfile(str(cfg_path))
    import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model.copy()
    model_cfg.backbone.pop('pretrained', None)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(model_cfg)
        wrapper_cfg = cfg.optim_wrapper.copy()
        wrapper_cfg.pop('_scope_', None)
        wrapper = build_optim_wrapper(model, wrapper_cfg)
    default = wrapper.optimizer.defaults['weight_decay']
    by_id = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            by_id[id(p)] = group.get('weight_decay', default)
    norms = {f'{m}.{n}' if m else n for m, module in model.named_modules()
             if isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm))
             for n, _ in module.named_parameters(recurse=False)}
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    return {name: by_id[id(p)] for name, p in params.items()}, {n: p.ndim for n, p in params.items()}, norms, default


# pre-training through the shared rules (the quick start uses the recipe's own rule set, checked below), and
# fine-tuning through the layer-decay constructor
NO_DECAY_CONFIGS = [
    CONFIGS / 'quickstart' / 'm33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py',
    CONFIGS / 'quickstart' / 'm33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video.py',
    CONFIGS / 'quickstart' / 'convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py',
    CONFIGS / 'quickstart' / 'recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-rgbd-video.py',
]


@pytest.mark.parametrize('path', NO_DECAY_CONFIGS, ids=[p.name for p in NO_DECAY_CONFIGS])
def test_no_decay_rules_on_a_built_model(path):
    decays, ndims, norms, default = _decays(path)
    assert default > 0 and norms
    exempt = {n for n, p in decays.items() if p == 0.0}
    named = {n for n in decays if n in norms or n.endswith('.bias') or any(k in n for k in NO_DECAY_NAMES)}
    assert named <= exempt, f'{path.name}: decayed although exempt: {sorted(named - exempt)}'
    # the rule is exactly: those, and every other 1-D parameter; all the rest keeps the recipe's weight decay
    assert exempt == named | {n for n, d in ndims.items() if d == 1}
    assert all(decays[n] == default for n in set(decays) - exempt)


def test_image_decoder_norm_and_modality_embeddings_are_exempt():
    decays, _, _, _ = _decays(NO_DECAY_CONFIGS[0])
    assert decays['neck.norm.weight'] == 0.0 and decays['neck.norm.bias'] == 0.0
    embeds = [n for n in decays if 'modality_embed' in n]
    assert embeds and all(decays[n] == 0.0 for n in embeds)


def test_one_no_decay_rule_set_for_every_pre_training_config():
    root = Config.fromfile(str(CONFIGS / '_base_' / 'schedules' / 'mae_pretrain.py')).optim_wrapper.paramwise_cfg
    assert root.flat_decay_mult == 0.0
    assert set(root.custom_keys) == set(NO_DECAY_NAMES)
    pretraining = [p for p in RECIPES + QUICKSTARTS if p.stem.startswith(('m33d-', 'mae_'))]
    assert len(pretraining) == 9
    for path in pretraining:
        assert Config.fromfile(str(path)).optim_wrapper.paramwise_cfg.to_dict() == root.to_dict(), path.name


def _jsonable(cfg: Config) -> dict:
    return json.loads(json.dumps(cfg.to_dict(), default=repr))


BENCHMARKS = sorted((CONFIGS / 'experiments').glob('benchmark_*.py'))


@pytest.mark.parametrize('path', BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_benchmark_configs_build_as_before(path):
    """The study's configs build the dicts their runs started from (tests/data/benchmark_configs.json).

    The differences allowed: a top-level `pretrained` helper of benchmark_seg.py names the renamed quick-start
    work dir (the model itself loads nothing: model.backbone.pretrained=None); the pre-training loaders collate
    with the stock MAE base's `default_collate` (compat fix D14 drops its `_scope_` tag) instead of the
    `pseudo_collate` override, which gives the same preprocessed batches
    (test_compat.py::test_the_stock_mae_collate_fn_batches_the_pre_training_data_as_before); benchmark_mae.py also
    holds the named parts of the MAE model base (`mae`, ...) that its model is built from.
    """
    snapshot = json.loads((REPO / 'tests' / 'data' / 'benchmark_configs.json').read_text())
    before = snapshot[f'configs/experiments/{path.name}']
    now = _jsonable(Config.fromfile(str(path)))
    if path.name == 'benchmark_seg.py':
        assert before['pretrained'] == 'work_dirs/m33d_tiny_synthetic_stage2'
        assert now['pretrained'] == 'work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd'
        before['pretrained'] = now['pretrained']
        assert now['model']['backbone']['pretrained'] is None
    if 'train_dataloader' in before and before['train_dataloader'].get('collate_fn') is not None:
        assert before['train_dataloader']['collate_fn']['type'] in ('pseudo_collate', 'default_collate')
        assert now['train_dataloader']['collate_fn'] == {'_scope_': 'mmpretrain', 'type': 'default_collate'}
        before['train_dataloader']['collate_fn'] = now['train_dataloader']['collate_fn']
    if path.name == 'benchmark_mae.py':
        # the named parts of models/mae_vit-micro-p16.py, from which the quick start builds the same model
        for key in ('mae', 'mae_preprocessor', 'mae_train_pipeline'):
            assert key not in before
            now.pop(key)
    assert now == before


def test_metafiles_list_every_config_by_its_name():
    import yaml
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    listed = {}
    for metafile in index['Import']:
        for model in yaml.safe_load((REPO / metafile).read_text())['Models']:
            listed[model['Config']] = model['Name']
    configs = {str(p.relative_to(REPO)): p.stem for p in RECIPES + QUICKSTARTS}
    assert listed == configs
