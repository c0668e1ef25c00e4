"""Exact resume from any checkpoint: the batches already trained are skipped, the random streams kept.

mmengine's ``EpochBasedTrainLoop`` restarts an epoch from its first batch when resumed from a checkpoint written
mid-epoch (``CheckpointHook(by_epoch=False)``), so the resumed run trains those batches twice and goes on with
more iterations than the run it continues. ``IterBasedTrainLoop`` skips the trained batches by loading them
again, which draws from the global random generators that :class:`~m33d_mm.engine.hooks.RNGStateHook` has
just restored (the transforms of a ``num_workers=0`` loader use them).

Both loops below skip by loading the trained batches (data-loader workers then draw the same numbers as in the
run they continue) and put the process's generators back as they were before skipping. :mod:`m33d_mm.compat`
installs them as ``EpochBasedTrainLoop.run_epoch`` and ``IterBasedTrainLoop.run``; the rest is mmengine's
code.
"""
import logging

from mmengine.logging import print_log

from .hooks import get_rng_state, set_rng_state

__all__ = ['iter_loop_run', 'run_epoch']


def _skip(iterable, count: int, what: str):
    """``iter(iterable)`` advanced by ``count`` items, with the process's random streams as before the call."""
    print_log(f'Resuming: skipping the {count} {what} already trained', logger='current', level=logging.WARNING)
    state = get_rng_state()
    iterator = iter(iterable)
    for _ in range(count):
        next(iterator)
    set_rng_state(state)
    return iterator


def run_epoch(self) -> None:
    """``EpochBasedTrainLoop.run_epoch`` that continues a resumed epoch after its last trained batch."""
    self.runner.call_hook('before_train_epoch')
    self.runner.model.train()
    done = self._iter - self._epoch * len(self.dataloader)
    if 0 < done < len(self.dataloader):
        iterator = _skip(self.dataloader, done, f'batches of epoch {self._epoch + 1}')
    else:
        done, iterator = 0, iter(self.dataloader)
    for idx, data_batch in enumerate(iterator, start=done):
        self.run_iter(idx, data_batch)
    self.runner.call_hook('after_train_epoch')
    self._epoch += 1


run_epoch._m33d_patched = True


def iter_loop_run(self):
    """``IterBasedTrainLoop.run`` whose skipping of trained batches leaves the random streams untouched."""
    self.runner.call_hook('before_train')
    # In an iteration-based loop the whole run is one big epoch (as in mmengine).
    self.runner.call_hook('before_train_epoch')
    if self._iter > 0:
        _skip(self.dataloader_iterator, self._iter, 'batches')  # an iterator: iter() returns itself
    while self._iter < self._max_iters and not self.stop_training:
        self.runner.model.train()
        data_batch = next(self.dataloader_iterator)
        self.run_iter(data_batch)
        self._decide_current_val_interval()
        if (self.runner.val_loop is not None and self._iter >= self.val_begin
                and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
            self.runner.val_loop.run()
    self.runner.call_hook('after_train_epoch')
    self.runner.call_hook('after_train')
    return self.runner.model
