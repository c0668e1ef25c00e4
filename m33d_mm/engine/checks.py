"""Checks every runner makes, whichever entry point built it (``tools/*.py``, ``mim train``, a stock OpenMMLab
tool, a script calling ``Runner.from_cfg``).

* :func:`check_runner_checkpoint`: the checkpoint a runner will load (``load_from``, ``resume``, the checkpoint
  of ``tools/test.py``) must exist and fit the model. mmengine loads such files non-strictly, so a checkpoint of
  another model only logs a warning and the run goes on with part of the model at random. The check runs when
  the runner is built (:mod:`m33d_mm.compat`, D11), before any data is read or any weight is trained.
* :func:`install_error_hook`: a :class:`~m33d_mm.models.checkpoint.CheckpointMismatchError` that nobody catches
  (the check above, ``pretrained`` / ``init_cfg`` weights, files that are no checkpoint) ends the process with
  one line, ``error: <message naming the file>``, instead of a traceback through mmengine's internals.
"""
import os.path as osp
import sys

__all__ = ['check_runner_checkpoint', 'checkpoint_to_load', 'install_error_hook']


def checkpoint_to_load(runner):
    """The file ``runner.load_or_resume()`` will read, or ``None`` (mmengine's rules, without logging)."""
    resume, path = getattr(runner, '_resume', False), getattr(runner, '_load_from', None)
    if isinstance(resume, str):  # FlexibleRunner(resume='path')
        return resume
    if resume and path is None:
        from .checkpoint import latest_checkpoint
        return latest_checkpoint(runner.work_dir, log=False)
    return path


def check_runner_checkpoint(runner) -> None:
    """Raise a :class:`CheckpointMismatchError` naming the file when the runner's checkpoint cannot be used."""
    path = checkpoint_to_load(runner)
    if path is None or getattr(runner, '_has_loaded', False):
        return
    from m33d_mm.models.checkpoint import CheckpointLoadError, check_model_checkpoint
    if '://' not in path and not osp.isfile(path):
        raise CheckpointLoadError(f'checkpoint {path} (load_from / --resume) does not exist')
    check_model_checkpoint(runner.model, path)


def install_error_hook() -> bool:
    """Print uncaught checkpoint errors as one ``error: ...`` line (exit status 1); other errors as before."""
    previous = sys.excepthook
    if getattr(previous, '_m33d_one_line', False):
        return False

    def excepthook(kind, value, traceback):
        module = sys.modules.get('m33d_mm.models.checkpoint')
        if module is not None and issubclass(kind, module.CheckpointMismatchError):
            print(f'error: {value}', file=sys.stderr, flush=True)
            return
        previous(kind, value, traceback)

    excepthook._m33d_one_line = True
    sys.excepthook = excepthook
    return True
