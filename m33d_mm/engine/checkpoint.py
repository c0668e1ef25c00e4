"""Checkpoints that survive a kill at any moment, and a resume that finds the newest complete one.

mmengine's ``CheckpointHook`` deletes the oldest checkpoint *before* writing the new one, writes the new one in
place, and rewrites ``last_checkpoint`` (an absolute path) in place: a kill during a save can leave no
checkpoint at all, a truncated one, or an empty pointer, and a copied work directory resumes from the original
directory's files. Here

* every checkpoint is written to ``NAME.tmp``, flushed to disk and renamed to ``NAME`` (:func:`save_atomically`),
  so a ``*.pth`` file is either complete or absent;
* old checkpoints (``max_keep_ckpts``, the previous best) are deleted only after the new one is complete;
* ``last_checkpoint`` is replaced atomically and holds the path relative to the work directory;
* :func:`latest_checkpoint` follows the pointer when it names a complete file and otherwise falls back to the
  newest complete checkpoint of the work directory, saying so.

:mod:`m33d_mm.compat` installs these for every run (``CheckpointHook`` in mmengine's registry is
:class:`AtomicCheckpointHook`; ``Runner`` saves through :func:`save_atomically` and resumes through
:func:`latest_checkpoint`).
"""
import glob
import logging
import os
import os.path as osp
import zipfile
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

__all__ = ['AtomicCheckpointHook', 'is_complete_checkpoint', 'latest_checkpoint', 'save_atomically',
           'write_last_checkpoint']

POINTER = 'last_checkpoint'
TMP_SUFFIX = '.tmp'


def _replace(tmp: str, path: str) -> None:
    with open(tmp, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        fd = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_atomically(save_checkpoint):
    """Wrap mmengine's ``save_checkpoint(checkpoint, filename, ...)``: write ``filename.tmp``, then rename."""

    def save(checkpoint, filename, file_client_args=None, backend_args=None):
        if '://' in str(filename):
            return save_checkpoint(checkpoint, filename, file_client_args=file_client_args,
                                   backend_args=backend_args)
        tmp = f'{filename}{TMP_SUFFIX}'
        save_checkpoint(checkpoint, tmp, file_client_args=file_client_args, backend_args=backend_args)
        _replace(tmp, filename)

    save._m33d_atomic = True
    return save


def write_last_checkpoint(work_dir: str, checkpoint: str) -> None:
    """Point ``work_dir/last_checkpoint`` at ``checkpoint`` atomically, relative to ``work_dir``."""
    pointer = osp.join(work_dir, POINTER)
    tmp = pointer + TMP_SUFFIX
    with open(tmp, 'w') as f:
        f.write(osp.relpath(osp.abspath(checkpoint), osp.abspath(work_dir)))
        f.flush()
    _replace(tmp, pointer)


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` archive (its zip directory, written last, is there)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith('data.pkl') for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _resolve_pointer(work_dir: str, text: str) -> str:
    if not osp.isabs(text):
        return osp.join(work_dir, text)
    local = osp.join(work_dir, osp.basename(text))
    # An absolute pointer (written by mmengine itself) in a copied work dir: use the copy's own file.
    if osp.realpath(osp.dirname(text)) != osp.realpath(work_dir) and osp.isfile(local):
        return local
    return text


def latest_checkpoint(work_dir: str, log: bool = True) -> Optional[str]:
    """The checkpoint ``--resume`` should continue from, or ``None`` when the work dir has none.

    ``last_checkpoint`` is followed when it names a complete file (a relative path, or an absolute one from
    mmengine, is resolved inside ``work_dir``); otherwise the newest complete ``*.pth`` of ``work_dir`` (best
    checkpoints excluded: they hold no optimiser state) is used, with a warning naming both (``log``).
    """
    pointer = osp.join(work_dir, POINTER)
    named, problem = None, None
    if osp.isfile(pointer):
        with open(pointer) as f:
            text = f.read().strip()
        if not text:
            problem = f'{pointer} is empty'
        else:
            named = _resolve_pointer(work_dir, text)
            if not osp.isfile(named):
                problem = f'{pointer} names {named}, which does not exist'
            elif not is_complete_checkpoint(named):
                problem = f'{pointer} names {named}, which is incomplete (truncated or damaged)'
            else:
                return named
    candidates = [path for path in glob.glob(osp.join(work_dir, '*.pth'))
                  if not osp.basename(path).startswith('best_') and is_complete_checkpoint(path)]
    if not candidates:
        if problem and log:
            print_log(f'{problem}, and {work_dir} holds no other complete checkpoint', logger='current',
                      level=logging.WARNING)
        return None
    newest = max(candidates, key=lambda path: (osp.getmtime(path), path))
    if log:
        print_log(f'{problem or f"no {pointer}"}; resuming from the newest complete checkpoint {newest} instead',
                  logger='current', level=logging.WARNING)
    return newest


class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that deletes old checkpoints only once the new one is complete.

    Same arguments and files as ``CheckpointHook``; the checkpoint itself is written atomically by the
    runner (see the module docstring), and ``last_checkpoint`` is replaced atomically with a relative path.
    Other storage backends (``backend_args`` naming a remote store) keep mmengine's behaviour.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        stale = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                               backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        write_last_checkpoint(runner.work_dir, self.last_ckpt)
        for old in stale:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best or not isinstance(self.file_backend, LocalBackend):
            return super()._save_best_checkpoint(runner, metrics)
        # mmengine removes the previous best before writing the new one: hide it, remove it afterwards.
        single = hasattr(self, 'best_ckpt_path')
        previous = {None: self.best_ckpt_path} if single else dict(self.best_ckpt_path_dict)
        if single:
            self.best_ckpt_path = None
        else:
            self.best_ckpt_path_dict = dict.fromkeys(previous)
        super()._save_best_checkpoint(runner, metrics)
        for key, old in previous.items():
            new = self.best_ckpt_path if single else self.best_ckpt_path_dict.get(key)
            if new is None:  # not improved: the previous best stays
                if single:
                    self.best_ckpt_path = old
                else:
                    self.best_ckpt_path_dict[key] = old
            elif old and old != new and is_main_process() and self.file_backend.isfile(old):
                self.file_backend.remove(old)
                runner.logger.info(f'The previous best checkpoint {old} is removed')
