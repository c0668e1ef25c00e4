"""The configs of the README's "Using the modules in your own configs", taken from the README itself, each run
through tools/train.py's config handling and mmengine's Runner for one training iteration at tiny sizes."""
import importlib.util
import re
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS
from mmengine.runner import Runner
from mmengine.structures import PixelData
from torch.utils.data import Dataset

from conftest import REPO

TINY = "dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)"
SECTION = '## Using the modules in your own configs'


def readme_configs():
    text = (REPO / 'README.md').read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index('\n## ', 1)]
    blocks = re.findall(r'```python\n(.*?)```', section, flags=re.S)
    return {re.search(r"_base_ = '(\w+)::", block).group(1) + ('_m33d' if 'M33D' in block else ''): block
            for block in blocks}


@DATASETS.register_module()
class TinyPackedSamples(Dataset):
    """Already packed samples (what a stock pipeline's Pack* transform yields), for recipes whose data is not here."""

    metainfo = dict(classes=('a', 'b'))

    def __init__(self, kind: str, num: int = 2):
        self.kind, self.num = kind, num

    def __len__(self):
        return self.num

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        if self.kind == 'mmaction':
            from mmaction.structures import ActionDataSample
            return dict(inputs=torch.randint(0, 255, (1, 3, 4, 32, 32), generator=gen, dtype=torch.uint8),
                        data_samples=ActionDataSample().set_gt_label(index % 2))
        image = torch.randint(0, 255, (3, 64, 64), generator=gen, dtype=torch.uint8)
        if self.kind == 'mmseg':
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64), generator=gen))
            return dict(inputs=image, data_samples=sample)
        from mmpretrain.structures import DataSample
        return dict(inputs=image, data_samples=DataSample().set_gt_label(index % 2))


def packed_loader(kind):
    return (f"train_dataloader = dict(_delete_=True, batch_size=2, num_workers=0, "
            f"sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='pseudo_collate'), "
            f"dataset=dict(type='TinyPackedSamples', kind='{kind}'))\n")


ONE_ITER = ("train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1)\n"
            "val_cfg = val_dataloader = val_evaluator = test_cfg = test_dataloader = test_evaluator = None\n"
            "param_scheduler = []\n"
            "default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, "
            "save_last=False))\n")

TINY_OVERRIDES = {
    'mmpretrain': (f"model = dict(backbone=dict(arch={TINY}, patch_size=8, pretrained=None),\n"
                   "             head=dict(in_channels=32))\n" + packed_loader('mmpretrain')),
    'mmpretrain_m33d': (f"model = dict(backbone=dict(arch={TINY}),\n"
                        "             neck=dict(in_channels=32, embed_dims=32, num_heads=2))\n"
                        "train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,\n"
                        "    dataset=dict(data_root='{root}', frame_skip=1, pipeline=[\n"
                        "        dict(type='LoadRGBDFromFile'), dict(type='RGBDRandomResizedCrop', scale=(32, 48)),\n"
                        "        dict(type='PackRGBDInputs')]))\n"),
    'mmseg': (f"model = dict(backbone=dict(arch={TINY.replace('num_layers=2', 'num_layers=4')}, "
              "out_indices=(0, 1, 2, 3), pretrained=None),\n"
              "             data_preprocessor=dict(size=(64, 64)),\n"
              "             neck=dict(in_channels=[32] * 4, out_channels=32),\n"
              "             decode_head=dict(in_channels=[32] * 4, channels=16),\n"
              "             auxiliary_head=dict(in_channels=32, channels=16))\n" + packed_loader('mmseg')),
    'mmaction': (f"model = dict(backbone=dict(arch={TINY}, patch_size=8, pretrained=None),\n"
                 "             cls_head=dict(num_classes=2, in_channels=32))\n"
                 "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))\n" + packed_loader('mmaction')),
}


def _train_tool():
    spec = importlib.util.spec_from_file_location('_readme_train', REPO / 'tools' / 'train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one_iteration(example: str, overrides: str, tmp_path):
    (tmp_path / 'example.py').write_text(example)
    tiny = "_base_ = './example.py'\n" + overrides + ONE_ITER
    base = Config.fromfile(tmp_path / 'example.py')
    for key in ('train_cfg', 'train_dataloader'):  # mmaction2's VideoMAE recipe has neither to replace
        if key not in base:
            tiny = tiny.replace(f'{key} = dict(_delete_=True, ', f'{key} = dict(')
    (tmp_path / 'tiny.py').write_text(tiny)
    train = _train_tool()
    args = train.parse_args.__globals__['argparse'].Namespace(
        config=str(tmp_path / 'tiny.py'), work_dir=str(tmp_path / 'work'), resume=None, amp=False,
        no_validate=False, auto_scale_lr=False, cfg_options=None, launcher='none', local_rank=0)
    cfg = train.merge_args(Config.fromfile(tmp_path / 'tiny.py'), args)
    # mmengine keys its logger by experiment name; two runs of tiny.py started in the same second would share the
    # first run's log file
    cfg.experiment_name = f'readme_{tmp_path.name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    return runner


def test_the_readme_shows_the_four_examples():
    assert sorted(readme_configs()) == ['mmaction', 'mmpretrain', 'mmpretrain_m33d', 'mmseg']


@pytest.mark.parametrize('name', ['mmpretrain', 'mmseg', 'mmaction'])
def test_readme_config_trains_one_iteration(name, tmp_path):
    runner = run_one_iteration(readme_configs()[name], TINY_OVERRIDES[name], tmp_path)
    assert type(runner.model.backbone).__name__ in ('RGBDViT', 'ActionRGBDViT')
    if name == 'mmaction':
        assert type(runner.model.cls_head).__name__ == 'TimeSformerHead'  # the stock head, unchanged


@pytest.fixture
def same_second(monkeypatch):
    """Every Runner started in the test gets one run timestamp, as two runs do when they start in the same second."""
    strftime = time.strftime
    monkeypatch.setattr(time, 'strftime',
                        lambda fmt, *args: '20261202_000000' if fmt == '%Y%m%d_%H%M%S' else strftime(fmt, *args))


@pytest.mark.parametrize('with_preprocessor_line', [True, False])
def test_readme_m33d_on_the_stock_mae_recipe_trains_under_the_runner(with_preprocessor_line, synthetic_root,
                                                                      tmp_path, same_second):
    example = readme_configs()['mmpretrain_m33d']
    line = "data_preprocessor = dict(_delete_=True, type='RGBDDataPreprocessor')\n"
    assert line in example
    if not with_preprocessor_line:
        example = example.replace(line, '')  # the Runner now hands the base's SelfSupDataPreprocessor to M33D
    overrides = TINY_OVERRIDES['mmpretrain_m33d'].replace('{root}', str(synthetic_root))
    runner = run_one_iteration(example, overrides, tmp_path)
    assert type(runner.model.data_preprocessor).__name__ == 'RGBDDataPreprocessor'
    log = ''.join(path.read_text() for path in (tmp_path / 'work').rglob('*.log'))
    assert ("add `data_preprocessor = dict(_delete_=True, type='RGBDDataPreprocessor')`" in log) is \
        (not with_preprocessor_line)
