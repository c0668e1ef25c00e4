"""Training hooks for long runs: stop before non-finite weights are saved, resume exactly, with the lr asked for.

They are registered in mmengine's ``HOOKS`` registry (``m33d_mm.engine``; importing ``m33d_mm`` imports it),
and every recipe gets them from ``configs/_base_/reliability.py``::

    custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='RNGStateHook'), dict(type='ResumeLRHook')]
"""
import random
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

__all__ = ['NonFiniteLossHook', 'RNGStateHook', 'ResumeLRHook', 'get_rng_state', 'set_rng_state']

# Checkpoint key holding one RNG-state dict per rank.
RNG_STATES_KEY = 'rng_states'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training with a clear error as soon as a loss term, a weight or an optimiser state is NaN or infinite.

    After each iteration it checks every entry of the train step's log variables (``loss`` and each ``loss_*``
    term) and then -- because an update can overflow after a finite loss -- every parameter and every optimiser
    state tensor (``check_weights``), and raises :class:`FloatingPointError` naming the iteration, epoch, batch
    and what is non-finite. Its priority puts it before ``LoggerHook`` and ``CheckpointHook``, so the damaged
    weights of that iteration are never written to a checkpoint; the message says how to resume with a lower lr.

    Args:
        check_weights (bool): Also check parameters and optimiser state (one device synchronisation per
            iteration). Defaults to True.
    """

    # NORMAL runs before LoggerHook (BELOW_NORMAL) and CheckpointHook (VERY_LOW) in after_train_iter.
    priority = 'NORMAL'

    def __init__(self, check_weights: bool = True):
        self.check_weights = check_weights

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None) -> None:
        values = {name: torch.as_tensor(value).detach().float() for name, value in (outputs or {}).items()
                  if isinstance(value, (torch.Tensor, float, int))}
        bad = {name: value for name, value in values.items() if not torch.isfinite(value).all()}
        finite = ', '.join(f'{name} = {value.item():.4g}' for name, value in values.items()
                           if name not in bad and value.numel() == 1)
        if bad:
            # The total is non-finite whenever a term is; name the terms, and the total only if it is the culprit.
            terms = {name: value for name, value in bad.items() if name != 'loss'} or bad
            described = ', '.join(f'{name} = {_describe(value)}' for name, value in terms.items())
            raise FloatingPointError(
                f'non-finite loss at iteration {runner.iter + 1}{_epoch_info(runner, batch_idx)}: {described}'
                + (f'; finite: {finite}' if finite else '') + '. ' + _advice(runner, 'corrupt input, loss weights'))
        if not self.check_weights:
            return
        damaged = _non_finite_weights(runner)
        if damaged:
            raise FloatingPointError(
                f'non-finite weights after the update of iteration {runner.iter + 1}'
                f'{_epoch_info(runner, batch_idx)}: {damaged}' + (f' (the loss was finite: {finite})' if finite else '')
                + '. ' + _advice(runner, 'too high a learning rate, most often'))


def _epoch_info(runner, batch_idx: int) -> str:
    loop = runner.train_loop
    if isinstance(loop, EpochBasedTrainLoop):
        return f' (epoch {runner.epoch + 1}, batch {batch_idx + 1}/{len(loop.dataloader)})'
    return ''


def _advice(runner, causes: str) -> str:
    config = getattr(runner.cfg, 'filename', None) or 'CONFIG'
    lr = ''
    try:
        lr = f'{runner.optim_wrapper.get_lr()["lr"][0]:.3g}'
    except (AttributeError, KeyError, IndexError, TypeError):
        pass
    return (f'Training stopped before this iteration was checkpointed. Fix the cause ({causes}) and resume from '
            f'the last checkpoint in {runner.work_dir}, e.g. with a lower learning rate (now {lr or "?"}): '
            f'python tools/train.py {config} --work-dir {runner.work_dir} --resume --cfg-options '
            'optim_wrapper.optimizer.lr=<lower>; the lr given at resume replaces the checkpoint\'s (ResumeLRHook).')


def _optimizers(runner) -> list:
    wrapper = getattr(runner, 'optim_wrapper', None)
    if wrapper is None or isinstance(wrapper, dict):
        return []
    if hasattr(wrapper, 'optim_wrappers'):  # OptimWrapperDict
        return [w.optimizer for w in wrapper.optim_wrappers.values()]
    return [wrapper.optimizer]


def _non_finite_weights(runner) -> str:
    """A description of the parameters and optimiser states holding NaN/Inf, or '' when all are finite."""
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    named = [(f'parameter {name}', p) for name, p in model.named_parameters()]
    named += [(f'optimizer state {key}', value) for optimizer in _optimizers(runner)
              for state in optimizer.state.values() for key, value in state.items()
              if isinstance(value, torch.Tensor) and value.is_floating_point()]
    if not named:
        return ''
    flags = torch.stack([~torch.isfinite(t.detach()).all() for _, t in named]).cpu()  # one synchronisation
    if not flags.any():
        return ''
    bad = [name for (name, _), flag in zip(named, flags.tolist()) if flag]
    params = sum(name.startswith('parameter') for name in bad)
    total_params = sum(name.startswith('parameter') for name, _ in named)
    return (f'{params} of {total_params} parameter tensors and {len(bad) - params} optimizer state tensors '
            f'hold NaN/Inf, e.g. {[name.split(" ", 2)[-1] for name in bad[:3]]}')


def _describe(value: torch.Tensor) -> str:
    if value.numel() == 1:
        return str(value.item())
    return f'{int((~torch.isfinite(value)).sum())} non-finite of {value.numel()} values'


def get_rng_state() -> Dict[str, object]:
    """This process's Python, numpy, torch CPU and (when in use) CUDA generator states."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: Dict[str, object]) -> None:
    """Restore the states returned by :func:`get_rng_state`."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make a resumed run draw the same random numbers as the run it continues.

    mmengine's resume restores weights, optimiser, schedulers and the seed, but not the generator *states*: a
    resumed run re-seeds and then draws other crops, flips and masks (the transforms use the global numpy RNG,
    :meth:`RGBDViT.sample_keep_ids` the global torch RNG) than the uninterrupted run would have. This hook

    * gathers the Python / numpy / torch (/ CUDA) states of every rank whenever a checkpoint is written (end of
      an epoch, or an iteration ``CheckpointHook`` saves at) and stores them in it (``checkpoint['rng_states']``,
      one entry per rank);
    * restores each rank's state when training resumes from such a checkpoint, after all other set-up;
    * leaves the random streams as they were before validation once validation ends, so whether a validation
      ran after a checkpoint (it does in the interrupted run, not in the resumed one) changes nothing.

    With the loops of :mod:`m33d_mm.engine.resume` (installed by :mod:`m33d_mm.compat`), resuming from any
    checkpoint -- epoch end, mid-epoch, iteration-based -- with ``num_workers=0`` or non-persistent workers
    reproduces the uninterrupted run exactly. Not covered: persistent data-loader workers (their streams live in
    the worker processes and restart from their seed; the configs ship ``persistent_workers=False``), and, with
    a log line saying so, a different number of ranks, which resumes with mmengine's re-seeding.
    """

    # Before CheckpointHook (VERY_LOW) in after_train_epoch, so the gathered states are those saved; late in
    # before_train, so no other hook draws numbers after the restore.
    priority = 'LOW'

    def __init__(self):
        self._gathered: Optional[dict] = None
        self._loaded: Optional[dict] = None
        self._before_val: Optional[dict] = None

    def after_train_epoch(self, runner) -> None:
        # A collective: every rank calls it, while only rank 0 saves the checkpoint.
        self._gathered = dict(iter=runner.iter, states=all_gather_object(get_rng_state()))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        # Iteration checkpoints: gather when CheckpointHook (later in this stage) is about to save.
        for hook in runner.hooks:
            if (isinstance(hook, CheckpointHook) and not hook.by_epoch
                    and (hook.every_n_train_iters(runner, hook.interval, hook.save_begin)
                         or (hook.save_last and hook.is_last_train_iter(runner)))):
                self._gathered = dict(iter=runner.iter + 1, states=all_gather_object(get_rng_state()))
                return

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._gathered is not None and self._gathered['iter'] == checkpoint['meta'].get('iter'):
            checkpoint[RNG_STATES_KEY] = self._gathered['states']

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = dict(iter=checkpoint.get('meta', {}).get('iter'), states=checkpoint.get(RNG_STATES_KEY))

    def before_train(self, runner) -> None:
        loaded, self._loaded = self._loaded, None
        # load_from (fine-tuning) also loads checkpoints; only a resume sets the loop to the checkpoint's iter.
        if loaded is None or not runner.iter or loaded['iter'] != runner.iter:
            return
        states: Optional[List[dict]] = loaded['states']
        if not states:
            print_log(f'RNGStateHook: the checkpoint of iteration {runner.iter} holds no RNG states (written '
                      'without this hook); randomness continues from the re-seeded generators',
                      logger='current')
            return
        if len(states) != get_world_size():
            print_log(f'RNGStateHook: the checkpoint holds RNG states of {len(states)} ranks, this run has '
                      f'{get_world_size()}; randomness continues from the re-seeded generators',
                      logger='current')
            return
        set_rng_state(states[get_rank()])
        print_log(f'RNGStateHook: restored the RNG states of iteration {runner.iter}', logger='current')

    def before_val(self, runner) -> None:
        self._before_val = get_rng_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_state(self._before_val)
            self._before_val = None



def _schedulers(runner) -> list:
    schedulers = getattr(runner, 'param_schedulers', None) or []
    if isinstance(schedulers, dict):
        return [s for group in schedulers.values() for s in group]
    return list(schedulers)


@HOOKS.register_module()
class ResumeLRHook(Hook):
    """Let a learning rate changed at resume take effect.

    mmengine's resume loads the optimiser's param groups (their ``lr`` and ``initial_lr``) and the schedulers'
    base values from the checkpoint, so ``--resume --cfg-options optim_wrapper.optimizer.lr=...`` -- the usual
    cure after a divergence -- silently trains on at the checkpoint's lr. This hook compares each param group's
    initial lr as the current config builds it (layer decay, ``auto_scale_lr`` included) with the checkpoint's;
    where they differ it rescales that group's current lr and the schedulers' values by the ratio, so the
    schedule continues from the config's lr, and logs it. Nothing changes when the lr is the same.
    """

    # Before RNGStateHook (LOW) in before_train; it draws no random numbers either way.
    priority = 'NORMAL'

    def __init__(self):
        self._ratios: Optional[List[float]] = None
        self._config_lrs: List[float] = []
        self._checkpoint_lrs: List[float] = []

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._ratios = None
        saved = checkpoint.get('optimizer')
        optimizers = _optimizers(runner)
        if not isinstance(saved, dict) or 'param_groups' not in saved or len(optimizers) != 1:
            return
        current, old = optimizers[0].param_groups, saved['param_groups']
        if len(current) != len(old):
            return
        self._ratios = [group.get('initial_lr', group['lr']) / old_group.get('initial_lr', old_group['lr'])
                        if old_group.get('initial_lr', old_group.get('lr')) else 1.0
                        for group, old_group in zip(current, old)]
        self._config_lrs = [group.get('initial_lr', group['lr']) for group in current]
        self._checkpoint_lrs = [group.get('initial_lr', group['lr']) for group in old]

    def before_train(self, runner) -> None:
        ratios, self._ratios = self._ratios, None
        # load_from (fine-tuning) loads a checkpoint too; only a resume sets the loop past iteration 0.
        if ratios is None or not runner.iter or all(abs(r - 1) < 1e-6 for r in ratios):
            return
        optimizer = _optimizers(runner)[0]
        for group, ratio, lr in zip(optimizer.param_groups, ratios, self._config_lrs):
            group['lr'] *= ratio
            group['initial_lr'] = lr
        for scheduler in _schedulers(runner):
            if getattr(scheduler, 'param_name', None) != 'lr' or getattr(scheduler, 'optimizer', None) is not optimizer:
                continue
            scheduler.base_values = [v * r for v, r in zip(scheduler.base_values, ratios)]
            if getattr(scheduler, '_last_value', None):
                scheduler._last_value = [v * r for v, r in zip(scheduler._last_value, ratios)]
        print_log(f'ResumeLRHook: the config asks for lr {self._config_lrs[0]:.4g}, the checkpoint was trained with '
                  f'{self._checkpoint_lrs[0]:.4g} (param group 0 of {len(ratios)}); the optimiser and the schedules '
                  f'continue from the config\'s lr (now {optimizer.param_groups[0]["lr"]:.4g})', logger='current')
