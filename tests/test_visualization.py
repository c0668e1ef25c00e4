"""Reconstruction figures: validation frames, a distinct colour for masked patches and for missing depth, a
colour bar with units, the RGB de-normalisation stated; the training hook writes them to the work dir and to the
vis backends; tools/visualize_reconstruction.py draws the same figure from a run."""
import importlib.util
import sys

import matplotlib
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import REPO

from m33d_mm.engine.visualization_hook import (INVALID_COLOUR, MASKED_COLOUR, pick_samples, reconstruction_figure,
                                               validation_dataset_cfg)

STAGE2 = 'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py'
TINY = dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """One epoch (one iteration) of the tiny stage-2 recipe with the hook drawing at every iteration."""
    work_dir = tmp_path_factory.mktemp('vis') / 'work'
    cfg = Config.fromfile(REPO / STAGE2)
    cfg.merge_from_dict({
        'work_dir': str(work_dir), 'train_cfg.max_epochs': 1, 'model.backbone.pretrained': None,
        'model.backbone.arch': TINY, 'model.neck.in_channels': 32, 'model.neck.embed_dims': 32,
        'model.neck.num_heads': 2, 'train_dataloader.dataset.data_root': str(synthetic_root),
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
        'param_scheduler': [], 'default_hooks.checkpoint.interval': 1})
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='ReconstructionVisualizationHook', interval=1,
                                                      num_samples=2)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner, work_dir


def test_frames_are_validation_frames_without_random_crops(synthetic_root):
    cfg = Config.fromfile(REPO / STAGE2)
    cfg.train_dataloader.dataset.data_root = str(synthetic_root)
    dataset = validation_dataset_cfg(cfg)
    assert dataset['split_file'] == 'splits/val.txt'
    kinds = [step['type'] for step in dataset['pipeline']]
    assert kinds == ['LoadRGBDFromFile', 'RGBDResize', 'PackRGBDInputs']
    assert dataset['pipeline'][1]['scale'] == (128, 160)  # the training crop size


def test_hook_writes_the_figure_to_the_work_dir_and_the_vis_backends(trained):
    runner, work_dir = trained
    assert runner.iter == 1
    assert (work_dir / 'reconstructions' / 'iter_1.png').is_file()
    # the default LocalVisBackend stores what visualizer.add_image receives
    assert list(work_dir.glob('*/vis_data/vis_image/reconstruction_1.png'))


def _turbo_distance(colour):
    table = matplotlib.colormaps['turbo'](np.linspace(0, 1, 1024))[:, :3]
    return np.abs(table - np.asarray(colour)).sum(axis=1).min()


def test_masked_and_missing_depth_have_their_own_colours_and_the_figure_says_how_it_is_drawn(trained):
    runner, _ = trained
    model = runner.model.eval()
    samples = pick_samples(runner.build_dataloader(runner.cfg.train_dataloader).dataset, 2)
    samples[0]['inputs']['depth'][:, :20, :30] = 0  # a hole without depth measurements
    assert _turbo_distance(MASKED_COLOUR) > 0.3 and _turbo_distance(INVALID_COLOUR) > 0.3
    torch.manual_seed(0)
    fig = reconstruction_figure(model, samples)
    axes = np.asarray(fig.axes[:12]).reshape(2, 6)
    depth_in = axes[0, 3].get_images()[0].get_array()
    assert np.allclose(depth_in[:20, :30], INVALID_COLOUR) and not np.allclose(depth_in[30:, 40:], INVALID_COLOUR)
    for col in (1, 4):  # RGB masked, depth masked: grey exactly on masked patches
        image = axes[0, col].get_images()[0].get_array()
        grey = np.all(np.isclose(image, MASKED_COLOUR), axis=-1)
        assert 0.5 < grey.mean() < 1.0  # 80 % masks
    colour_bar = fig.axes[-1]
    assert 'depth' in colour_bar.get_ylabel() and 'standardised' in colour_bar.get_ylabel()
    text = ' '.join(t.get_text() for t in fig.texts)
    assert 'de-normalised with the mean and std of the true patch' in text
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ['masked patch', 'no depth measured']


def test_tool_draws_the_figure_from_a_work_dir(trained, synthetic_root, tmp_path, monkeypatch, capsys):
    _, work_dir = trained
    spec = importlib.util.spec_from_file_location('_vis_tool', REPO / 'tools' / 'visualize_reconstruction.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'figure' / 'reconstruction.png'
    monkeypatch.setattr(sys, 'argv', [
        'visualize_reconstruction.py', STAGE2, str(work_dir), '--out', str(out), '--num-samples', '2',
        '--cfg-options', f'train_dataloader.dataset.data_root={synthetic_root}', 'model.backbone.pretrained=None',
        'model.backbone.arch.embed_dims=32', 'model.backbone.arch.num_layers=2', 'model.backbone.arch.num_heads=2',
        'model.backbone.arch.feedforward_channels=64', 'model.neck.in_channels=32', 'model.neck.embed_dims=32',
        'model.neck.num_heads=2'])
    monkeypatch.chdir(REPO)
    tool.main()
    assert out.is_file() and 'reconstruction figure written' in capsys.readouterr().out


# configs/_base_/ holds fragments that recipes include, not recipes
@pytest.mark.parametrize('config', sorted(str(p.relative_to(REPO)) for p in REPO.glob('configs/*/*.py')
                                          if p.parent.name != '_base_'))
def test_every_recipe_has_vis_backends_to_add_tensorboard_to(config):
    # the README's two-line TensorBoard config (visualizer.vis_backends) replaces this list in every recipe
    backends = Config.fromfile(REPO / config).visualizer.vis_backends
    assert [b['type'] for b in backends][:1] == ['LocalVisBackend']
