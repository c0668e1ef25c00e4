"""NonFiniteLossHook stops a run at the first NaN/Inf loss term; RNGStateHook saves and restores RNG states."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmengine.runner import EpochBasedTrainLoop

from m33d_mm.engine.hooks import RNG_STATES_KEY, NonFiniteLossHook, RNGStateHook, get_rng_state

STAGE1 = 'configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Pin mmengine's global default scope for these builds (other test modules set it, e.g. to mmseg); the
    runners built here leave the scope as it was."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def fake_runner(iteration=4, epoch=1, batches=3, model=None):
    loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)  # only its type and dataloader are read
    loop.dataloader = list(range(batches))
    model = model or torch.nn.Linear(2, 2)
    optim_wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=0.1))
    return SimpleNamespace(iter=iteration, epoch=epoch, work_dir='work_dirs/x', train_loop=loop, model=model,
                           optim_wrapper=optim_wrapper, cfg=SimpleNamespace(filename='configs/x.py'), hooks=[])


def test_training_stops_at_the_first_nan_naming_iteration_epoch_and_term(synthetic_root, tmp_path, monkeypatch):
    from mmengine.config import Config
    from mmengine.runner import Runner

    from m33d_mm.models.losses import PatchInfoNCELoss
    original = PatchInfoNCELoss.forward
    calls = []

    def nan_from_fifth_call(self, *args, **kwargs):
        calls.append(1)
        loss = original(self, *args, **kwargs)
        return loss * float('nan') if len(calls) >= 5 else loss

    monkeypatch.setattr(PatchInfoNCELoss, 'forward', nan_from_fifth_call)
    cfg = Config.fromfile(STAGE1)
    cfg.train_dataloader.dataset.data_root = str(synthetic_root)
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.merge_from_dict({'train_cfg.max_epochs': 3, 'default_hooks.logger.interval': 1})
    cfg.custom_hooks = [dict(type='NonFiniteLossHook')]
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = f'nan_{tmp_path.name}'
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FloatingPointError, match=r'non-finite loss at iteration 5 \(epoch 2, batch 2/3\): '
                       r'loss_contrastive = nan\. Training stopped'):
        runner.train()
    assert (tmp_path / 'epoch_1.pth').is_file() and not (tmp_path / 'epoch_2.pth').exists()


def test_non_finite_hook_names_only_the_bad_terms():
    hook = NonFiniteLossHook()
    finite = dict(loss=torch.tensor(2.), loss_rgb=torch.tensor(1.), loss_depth=torch.tensor(1.))
    hook.after_train_iter(fake_runner(), 1, outputs=finite)
    hook.after_train_iter(fake_runner(), 1, outputs=None)
    bad = dict(finite, loss=torch.tensor(float('inf')), loss_depth=torch.tensor(float('inf')))
    with pytest.raises(FloatingPointError, match=r'iteration 5 \(epoch 2, batch 2/3\): loss_depth = inf; '
                       r'finite: loss_rgb = 1\. .*work_dirs/x') as info:
        hook.after_train_iter(fake_runner(), 1, outputs=bad)
    assert 'loss =' not in str(info.value)
    with pytest.raises(FloatingPointError, match='loss_rgb = 2 non-finite of 3 values'):
        hook.after_train_iter(fake_runner(), 1, outputs=dict(loss_rgb=torch.tensor([1., float('nan'), -float('inf')])))


def draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_states_are_saved_per_epoch_and_restored_only_on_resume():
    hook = RNGStateHook()
    runner = fake_runner(iteration=6)
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    hook.after_train_epoch(runner)
    expected = draw()
    checkpoint = dict(meta=dict(iter=6))
    hook.before_save_checkpoint(runner, checkpoint)
    assert len(checkpoint[RNG_STATES_KEY]) == 1

    # load_from (fine-tuning): the loop starts at 0, nothing is restored
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(fake_runner(iteration=0))
    assert draw() != expected
    # resume: the loop is at the checkpoint's iteration
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(fake_runner(iteration=6))
    assert draw() == expected

    # a mid-epoch checkpoint gets no states (the gathered ones belong to another iteration)
    mid_epoch = dict(meta=dict(iter=7))
    hook.before_save_checkpoint(runner, mid_epoch)
    assert RNG_STATES_KEY not in mid_epoch


def test_rng_states_of_another_world_size_are_not_restored():
    hook = RNGStateHook()
    state = get_rng_state()
    hook.after_load_checkpoint(None, {'meta': dict(iter=3), RNG_STATES_KEY: [state, state]})
    runner = fake_runner(iteration=3)
    before = torch.get_rng_state()
    hook.before_train(runner)
    assert torch.equal(torch.get_rng_state(), before)


def test_validation_leaves_the_training_streams_untouched():
    hook = RNGStateHook()
    hook.before_val(None)
    expected = draw()
    hook.after_val(None)
    hook.before_val(None)
    draw()  # validation draws numbers (data-loader seeds, random transforms)
    hook.after_val(None)
    assert draw() == expected


def test_autocast_optim_wrapper_runs_the_forward_pass_in_bf16():
    import torch
    from m33d_mm.engine import AutocastOptimWrapper
    model = torch.nn.Linear(4, 4)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    loss = out.float().pow(2).mean()
    wrapper.update_params(loss)
    assert model.weight.dtype == torch.float32  # master weights stay fp32
    assert model(torch.randn(2, 4)).dtype == torch.float32  # outside the context: fp32
    with pytest.raises(ValueError, match='optim_wrapper.dtype'):
        AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), dtype='float8')


def tiny_stage1_runner(synthetic_root, tmp_path, **options):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(STAGE1)
    cfg.train_dataloader.dataset.data_root = str(synthetic_root)
    cfg.train_dataloader.update(batch_size=4, num_workers=0)
    cfg.merge_from_dict({'train_cfg.max_epochs': 3, 'default_hooks.logger.interval': 1, **options})
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = f'guard_{tmp_path.name}'
    return Runner.from_cfg(cfg)


def test_an_update_that_overflows_after_a_finite_loss_is_never_checkpointed(synthetic_root, tmp_path):
    runner = tiny_stage1_runner(synthetic_root, tmp_path, **{'optim_wrapper.optimizer.lr': 1e6})
    with pytest.raises(FloatingPointError, match=r'non-finite weights after the update of iteration \d \(epoch 1, '
                       r'batch \d/3\): \d+ of \d+ parameter tensors and \d+ optimizer state tensors hold NaN/Inf.*'
                       r'\(the loss was finite: loss = .*--resume --cfg-options optim_wrapper\.optimizer\.lr=<lower>'):
        runner.train()
    assert not list(tmp_path.glob('*.pth'))


def test_damaged_optimizer_state_stops_the_run_before_the_next_checkpoint(synthetic_root, tmp_path):
    from mmengine.hooks import Hook

    class DamageAdamState(Hook):
        """Stands in for an overflow inside the optimiser at iteration 5 (the weights stay finite)."""
        priority = 'ABOVE_NORMAL'  # before NonFiniteLossHook

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 == 5:
                next(iter(runner.optim_wrapper.optimizer.state.values()))['exp_avg_sq'].fill_(float('inf'))

    runner = tiny_stage1_runner(synthetic_root, tmp_path)
    runner.register_hook(DamageAdamState())
    with pytest.raises(FloatingPointError, match=r'iteration 5 \(epoch 2, batch 2/3\): 0 of \d+ parameter tensors '
                       r'and 1 optimizer state tensors hold NaN/Inf'):
        runner.train()
    assert (tmp_path / 'epoch_1.pth').is_file() and not (tmp_path / 'epoch_2.pth').exists()


def test_every_recipe_gets_the_guards_from_the_shared_base():
    from pathlib import Path

    from mmengine.config import Config
    from test_config_tree import ALIASES
    repo = Path(__file__).resolve().parents[1]
    guards = ['NonFiniteLossHook', 'RNGStateHook', 'ResumeLRHook']
    # the mmpretrain example keeps its stock base's own custom_hooks (EMAHook); the former names build the same
    # configs as the new ones (tests/test_config_tree.py)
    configs = sorted(p for p in (repo / 'configs').rglob('*.py')
                     if '_base_' not in p.parts and p not in ALIASES
                     and p.name != 'imageclassifier_vit-base-p16_m33d-pre_32xb128_in1k.py')
    assert len(configs) >= 19
    for path in configs:
        cfg = Config.fromfile(str(path))
        hooks = [hook['type'] for hook in cfg.get('custom_hooks', [])]
        assert all(guard in hooks for guard in guards), f'{path.name}: custom_hooks {hooks}'
        if path.name != 'upernet_vit-base-p16_m33d-pre_8xb2-80k_ade20k-512x512.py':
            assert cfg.train_dataloader.get('persistent_workers') is False, path.name


def scalars(work_dir):
    import json
    run = max(work_dir.glob('2*'))
    rows = [json.loads(line) for line in (run / 'vis_data' / 'scalars.json').read_text().splitlines()]
    return {row['step']: row['lr'] for row in rows if 'lr' in row}


def test_a_learning_rate_given_at_resume_wins(synthetic_root, tmp_path, run_tool):
    options = [f'train_dataloader.dataset.data_root={synthetic_root}', 'train_dataloader.batch_size=4',
               'train_dataloader.num_workers=0', 'train_cfg.max_epochs=2', 'default_hooks.logger.interval=1',
               'model.backbone.pretrained=None']
    first, second = tmp_path / 'first', tmp_path / 'second'
    run_tool(['tools/train.py', 'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py',
              '--work-dir', first,
              '--cfg-options', *options])
    resumed = run_tool(['tools/train.py', 'configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py',
                        '--work-dir', second,
                        '--resume', first / 'epoch_1.pth', '--cfg-options', *options,
                        'optim_wrapper.optimizer.lr=1e-4'])
    assert 'ResumeLRHook: the config asks for lr 0.0001, the checkpoint was trained with 0.001' in resumed.stdout
    before, after = scalars(first), scalars(second)
    assert sorted(after) == [4, 5, 6]
    for step in after:
        assert after[step] == pytest.approx(before[step] / 10, rel=1e-6), step


def test_a_segmentation_run_with_a_diverging_lr_stops_without_saving_non_finite_weights(synthetic_root, tmp_path,
                                                                                        run_tool):
    options = ['model.backbone.pretrained=None', 'optim_wrapper.optimizer.lr=1e6', 'train_cfg.max_iters=8',
               'train_cfg.val_interval=8', 'default_hooks.checkpoint.interval=1', 'train_dataloader.batch_size=2']
    for loader in ('train_dataloader', 'val_dataloader'):
        options += [f'{loader}.dataset.data_root={synthetic_root}', f'{loader}.num_workers=0']
    proc = run_tool(['tools/train.py',
                     'configs/quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py',
                     '--work-dir', tmp_path,
                     '--cfg-options', *options], check=False)
    assert proc.returncode != 0
    assert 'FloatingPointError: non-finite' in proc.stderr, proc.stderr[-3000:]
    for path in tmp_path.glob('*.pth'):
        state = torch.load(path, weights_only=False)['state_dict']
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), path
