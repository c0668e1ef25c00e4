"""Fixes for known defects of the OpenMMLab stack, applied once per process.

``apply()`` runs from ``m33d_mm/__init__.py``, so every process that imports the package (``tools/*.py``,
``torchrun`` workers, pytest, ``custom_imports=['m33d_mm...']``) gets them before torchvision, mmseg or
mmaction are first imported. Each fix checks that its defect is present and otherwise does nothing, so on a
machine where the real thing works (full mmcv, a CUDA build of torch/torchvision) this module changes nothing.
``M33D_DISABLE_COMPAT=1`` turns every fix off, ``M33D_DISABLE_COMPAT=name,...`` the named ones (keys of
``FIXES``): the tests reproduce each defect that way.

* D1 ``torchvision`` next to a CPU-only torch: its ``_C`` extension links CUDA and fails to load, after which
  ``import torchvision`` dies registering fake kernels for ops whose schema never got defined.
* D2 the mmaction2 1.2.0 distribution lacks ``mmaction/models/localizers/drn`` although the package imports it.
* D3 ``mmcv-lite`` has no ``mmcv._ext`` while several mmseg modules import ``mmcv.ops`` unconditionally.
* D4 torch >= 2.6 loads with ``weights_only=True`` by default; mmengine checkpoints hold Python objects
  (``HistoryBuffer``, numpy scalars), so ``resume``/``load_from`` fail. Every local or ``http(s)://`` checkpoint
  mmengine loads goes through :func:`m33d_mm.models.checkpoint.load_checkpoint_file`: ``weights_only=True`` with
  an allow-list of exactly those objects, and a clear error naming the file for anything else.
* D5 mmengine's distributed set-up assumes CUDA (``torch.cuda.set_device`` and ``device_ids`` for DDP); on
  CPU-only machines the process group is started with gloo and DDP wraps CPU modules without device ids.
* D6 mmaction2 turns on its VindLU multimodal models whenever ``transformers`` is installed (this project
  uses it for depth extraction), but they also import ``timm``; without it ``import mmaction.models`` fails.
  The multimodal models are then registered as placeholders, as mmaction2 does without ``transformers``.
* D7 mmengine's ``CheckpointHook`` deletes the oldest checkpoint before writing the new one, writes files and the
  ``last_checkpoint`` pointer in place and stores an absolute path there; a kill while saving can lose every
  checkpoint. See :mod:`m33d_mm.engine.checkpoint`.
* D8 mmengine's epoch loop restarts the epoch from its first batch when resumed from a mid-epoch checkpoint,
  and both loops draw from the global random generators while skipping data. See :mod:`m33d_mm.engine.resume`.
* D9 mmcv's ``LoadImageFromFile`` (mmseg, mmaction pipelines) fails on an empty or undecodable image with a bare
  ``cv2.error`` that names no file; it becomes an ``RGBDDataError`` naming the image.
* D10 mmengine resolves ``_base_ = 'pkg::path'`` only for OpenMMLab's own packages (``MODULE2PACKAGE``) and gives
  every dict of such a base ``_scope_='pkg'``; ``'m33d_mm::m33d/...'`` would be refused, and the scope
  ``m33d_mm`` has no registry. The project's configs name their own scopes (their mmpretrain / mmseg / mmaction
  bases), so they are read like a local base: from the installed package's ``.mim/configs`` or, in a checkout,
  from ``configs/``.
* D11 mmengine loads ``load_from`` / ``resume`` checkpoints non-strictly: a checkpoint of another model only logs a
  warning, and training or evaluation goes on with part of the model at random. Every runner checks its
  checkpoint when it is built (:func:`m33d_mm.engine.checks.check_runner_checkpoint`), and an uncaught
  checkpoint error ends the process in one line naming the file (:func:`m33d_mm.engine.checks.install_error_hook`).
* D12 mmengine's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU/MUSA device, so ``--amp`` and the MAE recipes' AMP
  fail on CPU machines; there it is built as bf16 autocast without loss scaling
  (:class:`m33d_mm.engine.optim_wrapper.CPUAmpOptimWrapper`).
* D13 neither mmengine's runner nor the stock tools destroy the process group; left to interpreter shutdown,
  gloo's threads can abort a finished process (SIGABRT, a failed ``torchrun``). It is destroyed at exit, after a
  barrier unless the process is ending on an uncaught exception.
* D14 ``_base_ = 'mmpretrain::...'`` gives the MAE recipes' ``collate_fn=dict(type='default_collate')`` a
  ``_scope_`` key, which mmengine's ``Runner.build_dataloader`` passes on to the function (``TypeError:
  default_collate() got an unexpected keyword argument '_scope_'``); the key is dropped there.
"""
import atexit
import copy
import functools
import glob
import importlib.util
import os
import sys
import types
from importlib.machinery import ModuleSpec

import torch

APPLIED = {}


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def fix_torchvision_ops():
    """D1: declare the op schemas torchvision's fake kernels need when its C++ extension cannot load."""
    if 'torchvision' in sys.modules:
        return False
    tv_dir = _package_dir('torchvision')
    if tv_dir is None:
        return False
    libs = glob.glob(os.path.join(tv_dir, '_C*.so')) + glob.glob(os.path.join(tv_dir, '_C*.pyd'))
    if libs:
        try:
            torch.ops.load_library(libs[0])
            return False
        except (OSError, RuntimeError):
            pass
    try:
        torch.ops.torchvision.nms
        return False
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library('torchvision', 'DEF')  # noqa: TOR901
    lib.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    lib.define('qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor')
    # The library object must outlive this call or the definitions are dropped.
    APPLIED['torchvision_library'] = lib
    return True


def fix_mmaction_drn():
    """D2: stand in for the DRN localizer modules missing from the mmaction2 1.2.0 distribution."""
    mmaction_dir = _package_dir('mmaction')
    if mmaction_dir is None:
        return False
    drn_dir = os.path.join(mmaction_dir, 'models', 'localizers', 'drn')
    if os.path.isdir(drn_dir) or 'mmaction.models.localizers.drn' in sys.modules:
        return False

    class DRN(torch.nn.Module):
        """Placeholder for mmaction2's DRN localizer, which this mmaction2 distribution does not ship."""

        def __init__(self, *args, **kwargs):
            raise RuntimeError('mmaction2 1.2.0 as distributed lacks mmaction/models/localizers/drn; '
                               'install mmaction2 from source to use the DRN localizer.')

    package = types.ModuleType('mmaction.models.localizers.drn')
    package.__path__ = []
    package.__spec__ = ModuleSpec(package.__name__, loader=None, is_package=True)
    module = types.ModuleType('mmaction.models.localizers.drn.drn')
    module.__spec__ = ModuleSpec(module.__name__, loader=None)
    module.DRN = DRN
    package.drn = module
    sys.modules[package.__name__] = package
    sys.modules[module.__name__] = module
    return True


def _missing_mmcv_op(name):

    def op(*args, **kwargs):
        raise RuntimeError(f'mmcv op "{name}" needs the compiled mmcv._ext, which mmcv-lite does not ship; '
                           'install the full mmcv package to use it.')

    op.__name__ = name
    return op


def fix_mmcv_ext():
    """D3: a stand-in ``mmcv._ext`` so pure-PyTorch parts of mmseg import; its ops raise when called."""
    if _package_dir('mmcv') is None or 'mmcv._ext' in sys.modules:
        return False
    if importlib.util.find_spec('mmcv._ext') is not None:
        return False
    module = types.ModuleType('mmcv._ext')
    # loader=None: a real loader would make mmengine believe full mmcv is installed.
    module.__spec__ = ModuleSpec('mmcv._ext', loader=None)

    def __getattr__(name):
        if name.startswith('__'):
            raise AttributeError(name)
        return _missing_mmcv_op(name)

    module.__getattr__ = __getattr__
    sys.modules['mmcv._ext'] = module
    return True


def fix_mmaction_multimodal():
    """D6: keep mmaction2's VindLU models as placeholders when ``timm``, which they import, is missing."""
    if _package_dir('mmaction') is None or importlib.util.find_spec('timm') is not None:
        return False
    if 'mmaction.models' in sys.modules:
        return False
    from mmaction.utils import dependency
    if not dependency.WITH_MULTIMODAL:
        return False
    dependency.WITH_MULTIMODAL = False
    return True


def fix_checkpoint_loading():
    """D4: mmengine's own checkpoints load under torch >= 2.6 without unpickling arbitrary objects."""
    from mmengine.runner import checkpoint as ckpt

    if getattr(ckpt.load_from_local, '_m33d_patched', False):
        return False

    def load_from_local(filename, map_location):
        from m33d_mm.models.checkpoint import load_checkpoint_file
        return load_checkpoint_file(filename, map_location=map_location)

    def load_from_http(filename, map_location=None, model_dir=None):
        from m33d_mm.models.checkpoint import load_checkpoint_file
        return load_checkpoint_file(filename, map_location=map_location)

    load_from_local._m33d_patched = True
    ckpt.CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    ckpt.CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_from_http, force=True)
    ckpt.load_from_local = load_from_local
    return True


def project_config_path(cfg_path):
    """Absolute path of ``m33d_mm::<cfg_path>``: the checkout's ``configs/`` first, else the package's ``.mim``."""
    package = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(package)
    roots = [os.path.join(package, '.mim', 'configs')]
    if os.path.isfile(os.path.join(checkout, 'setup.py')):
        roots.insert(0, os.path.join(checkout, 'configs'))
    for root in roots:
        path = os.path.join(root, cfg_path)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"_base_ = 'm33d_mm::{cfg_path}': no such config in {' or '.join(roots)}")


def fix_config_package():
    """D10: ``_base_ = 'm33d_mm::m33d/...'`` in configs."""
    from mmengine.config import Config

    original = Config._get_cfg_path
    if getattr(original, '_m33d_patched', False):
        return False

    def get_base_cfg_path(cfg_path, filename):
        if cfg_path.startswith('m33d_mm::'):
            return project_config_path(cfg_path.partition('::')[2]), None
        return original(cfg_path, filename)

    get_base_cfg_path._m33d_patched = True
    Config._get_cfg_path = staticmethod(get_base_cfg_path)
    return True


def fix_checkpoint_saving():
    """D7: checkpoints written atomically, old ones deleted after the new one is complete, resume falls back."""
    from mmengine.registry import HOOKS
    from mmengine.runner import runner as runner_module

    if getattr(runner_module.save_checkpoint, '_m33d_atomic', False):
        return False
    from m33d_mm.engine.checkpoint import AtomicCheckpointHook, latest_checkpoint, save_atomically
    runner_module.save_checkpoint = save_atomically(runner_module.save_checkpoint)
    runner_module.find_latest_checkpoint = latest_checkpoint
    HOOKS.register_module(name='CheckpointHook', module=AtomicCheckpointHook, force=True)
    return True


def fix_mid_epoch_resume():
    """D8: resume skips exactly the batches a checkpoint has consumed, without touching the random streams."""
    from mmengine.runner import loops

    if getattr(loops.EpochBasedTrainLoop.run_epoch, '_m33d_patched', False):
        return False
    from m33d_mm.engine.resume import iter_loop_run, run_epoch
    loops.EpochBasedTrainLoop.run_epoch = run_epoch
    loops.IterBasedTrainLoop.run = iter_loop_run
    return True


def fix_cpu_distributed():
    """D5: gloo process group and CPU DDP when CUDA is unavailable."""
    if torch.cuda.is_available():
        return False
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils
    from mmengine.model import wrappers

    if getattr(dist_utils._init_dist_pytorch, '_m33d_patched', False):
        return False
    original_init = dist_utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if init_backend != 'torch':
            return original_init(backend, init_backend=init_backend, **kwargs)
        torch_dist.init_process_group(backend='gloo' if backend == 'nccl' else backend, **kwargs)

    _init_dist_pytorch._m33d_patched = True
    dist_utils._init_dist_pytorch = _init_dist_pytorch

    ddp_cls = wrappers.MMDistributedDataParallel
    original_ddp_init = ddp_cls.__init__

    def ddp_init(self, module, *args, **kwargs):
        params = list(module.parameters())
        if not params or params[0].device.type == 'cpu':
            kwargs['device_ids'] = None
        original_ddp_init(self, module, *args, **kwargs)

    ddp_cls.__init__ = ddp_init
    return True


def fix_image_load_errors():
    """D9: mmcv's ``LoadImageFromFile`` fails on an empty or undecodable image with a ``cv2.error`` naming no file."""
    if _package_dir('mmcv') is None:
        return False
    from mmcv.transforms import loading

    original = loading.LoadImageFromFile.transform
    if getattr(original, '_m33d_patched', False):
        return False

    def transform(self, results):
        try:
            return original(self, results)
        except Exception as err:  # cv2.error, or mmcv's bare assertion
            if self.ignore_empty or not ('cv2' in type(err).__module__ or isinstance(err, AssertionError)):
                raise
            from m33d_mm.datasets.transforms.rgbd import RGBDDataError
            raise RGBDDataError(f'image {results["img_path"]} is empty or corrupt (could not be decoded)') from None

    transform._m33d_patched = True
    loading.LoadImageFromFile.transform = transform
    return True


def _checking_init(original):
    from m33d_mm.engine.checks import check_runner_checkpoint

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        check_runner_checkpoint(self)

    __init__._m33d_patched = True
    return __init__


def fix_checkpoint_check():
    """D11: a runner refuses, when built, a ``load_from`` / ``resume`` checkpoint that does not fit its model."""
    from mmengine.runner import FlexibleRunner, Runner

    from m33d_mm.engine.checks import install_error_hook
    changed = install_error_hook()
    for runner_cls in (Runner, FlexibleRunner):
        if not getattr(runner_cls.__init__, '_m33d_patched', False):
            runner_cls.__init__ = _checking_init(runner_cls.__init__)
            changed = True
    return changed


def fix_cpu_amp():
    """D12: ``AmpOptimWrapper`` becomes bf16 autocast where mmengine's needs a GPU and finds none."""
    from mmengine.device import is_cuda_available, is_mlu_available, is_musa_available, is_npu_available
    if is_cuda_available() or is_npu_available() or is_mlu_available() or is_musa_available():
        return False
    from mmengine.registry import OPTIM_WRAPPERS

    from m33d_mm.engine.optim_wrapper import CPUAmpOptimWrapper
    if OPTIM_WRAPPERS.get('AmpOptimWrapper') is CPUAmpOptimWrapper:
        return False
    OPTIM_WRAPPERS.register_module(name='AmpOptimWrapper', module=CPUAmpOptimWrapper, force=True)
    return True


def destroy_process_group():
    """D13: at exit, destroy the default process group (after a barrier when the process ends normally)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        # sys.last_value is set for an uncaught exception: the other ranks may never reach a barrier then
        if not hasattr(sys, 'last_value'):
            dist.barrier()
    finally:
        dist.destroy_process_group()


def fix_process_group_teardown():
    """D13: the process group is destroyed before interpreter shutdown, where gloo's threads can abort."""
    atexit.unregister(destroy_process_group)
    atexit.register(destroy_process_group)
    return True


def _without_collate_scope(dataloader):
    collate = dataloader.get('collate_fn') if isinstance(dataloader, dict) else None
    if not isinstance(collate, dict) or '_scope_' not in collate:
        return dataloader
    dataloader = copy.deepcopy(dataloader)
    dataloader['collate_fn'].pop('_scope_')
    return dataloader


def _scope_free_build_dataloader(original):

    @functools.wraps(original)
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        return original(_without_collate_scope(dataloader), seed=seed, diff_rank_seed=diff_rank_seed)

    build_dataloader._m33d_patched = True
    return staticmethod(build_dataloader)


def fix_collate_fn_scope():
    """D14: the ``_scope_`` of a ``collate_fn`` inherited from another package's base config is not an argument."""
    from mmengine.runner import FlexibleRunner, Runner

    changed = False
    for runner_cls in (Runner, FlexibleRunner):
        if not getattr(runner_cls.build_dataloader, '_m33d_patched', False):
            runner_cls.build_dataloader = _scope_free_build_dataloader(runner_cls.build_dataloader)
            changed = True
    return changed


FIXES = dict(
    torchvision_ops=fix_torchvision_ops,
    mmaction_drn=fix_mmaction_drn,
    mmcv_ext=fix_mmcv_ext,
    mmaction_multimodal=fix_mmaction_multimodal,
    checkpoint_loading=fix_checkpoint_loading,
    cpu_distributed=fix_cpu_distributed,
    config_package=fix_config_package,
    checkpoint_saving=fix_checkpoint_saving,
    mid_epoch_resume=fix_mid_epoch_resume,
    image_load_errors=fix_image_load_errors,
    checkpoint_check=fix_checkpoint_check,
    cpu_amp=fix_cpu_amp,
    process_group_teardown=fix_process_group_teardown,
    collate_fn_scope=fix_collate_fn_scope,
)


def disabled_fixes():
    """``M33D_DISABLE_COMPAT``: ``1`` turns every fix off, a comma-separated list of ``FIXES`` names those."""
    value = os.environ.get('M33D_DISABLE_COMPAT', '').strip()
    if not value:
        return set()
    if value == '1':
        return set(FIXES)
    names = {name.strip() for name in value.split(',') if name.strip()}
    unknown = names - set(FIXES)
    if unknown:
        raise ValueError(f'M33D_DISABLE_COMPAT: unknown fixes {sorted(unknown)}; expected 1 or names from '
                         f'{sorted(FIXES)}')
    return names


def apply():
    """Apply every fix once; returns ``{name: True if it changed something}`` for the fixes applied."""
    disabled = disabled_fixes()
    for name, fix in FIXES.items():
        if name not in APPLIED and name not in disabled:
            APPLIED[name] = fix()
    return {name: APPLIED[name] for name in FIXES if name in APPLIED}
