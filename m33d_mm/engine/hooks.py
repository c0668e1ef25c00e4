"""Training hooks for long runs: stop on non-finite losses, and resume with the random streams of the run.

Both are registered in mmengine's ``HOOKS`` registry (``custom_imports`` must include ``'m33d_mm.engine'``)::

    custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='RNGStateHook')]
"""
import random
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

__all__ = ['NonFiniteLossHook', 'RNGStateHook', 'get_rng_state', 'set_rng_state']

# Checkpoint key holding one RNG-state dict per rank.
RNG_STATES_KEY = 'rng_states'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training with a clear error as soon as a logged loss term is NaN or infinite.

    Checks every entry of the train step's log variables (``loss`` and each ``loss_*`` term) after each
    iteration and raises :class:`FloatingPointError` naming the iteration, epoch, batch and the non-finite terms.
    Its priority puts it before ``LoggerHook`` and ``CheckpointHook``, so the damaged weights of that
    iteration are never written to a checkpoint: resume from the last one (``tools/train.py --resume``).
    """

    # NORMAL runs before LoggerHook (BELOW_NORMAL) and CheckpointHook (VERY_LOW) in after_train_iter.
    priority = 'NORMAL'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        values = {name: torch.as_tensor(value).detach().float() for name, value in outputs.items()
                  if isinstance(value, (torch.Tensor, float, int))}
        bad = {name: value for name, value in values.items() if not torch.isfinite(value).all()}
        if not bad:
            return
        # The total is non-finite whenever a term is; name the terms, and the total only if it is the culprit.
        terms = {name: value for name, value in bad.items() if name != 'loss'} or bad
        described = ', '.join(f'{name} = {_describe(value)}' for name, value in terms.items())
        finite = ', '.join(f'{name} = {value.item():.4g}' for name, value in values.items()
                           if name not in bad and value.numel() == 1)
        loop = runner.train_loop
        epoch_info = ''
        if isinstance(loop, EpochBasedTrainLoop):
            epoch_info = f' (epoch {runner.epoch + 1}, batch {batch_idx + 1}/{len(loop.dataloader)})'
        raise FloatingPointError(
            f'non-finite loss at iteration {runner.iter + 1}{epoch_info}: {described}'
            + (f'; finite: {finite}' if finite else '')
            + '. Training stopped before this iteration was checkpointed; resume from the last checkpoint in '
            f'{runner.work_dir} after fixing the cause (learning rate, corrupt input, loss weights).')


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

    * gathers the Python / numpy / torch (/ CUDA) states of every rank at the end of each train epoch and
      stores them in that epoch's checkpoint (``checkpoint['rng_states']``, one entry per rank);
    * restores each rank's state when training resumes from such a checkpoint, after all other set-up;
    * leaves the random streams as they were before validation once validation ends, so whether a validation
      ran after a checkpoint (it does in the interrupted run, not in the resumed one) changes nothing.

    Resuming from an epoch-end checkpoint with ``num_workers=0`` or non-persistent workers then reproduces the
    uninterrupted run exactly. Not covered: persistent data-loader workers (their streams live in the worker
    processes and restart from their seed); and, with a log line saying so, mid-epoch checkpoints (mmengine's
    epoch loop restarts the epoch's data anyway) and a different number of ranks, which resume with mmengine's
    re-seeding.
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
                      'mid-epoch or without this hook); randomness continues from the re-seeded generators',
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

