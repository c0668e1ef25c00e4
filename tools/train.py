"""Train a model from a config with mmengine's runner (same interface as OpenMMLab's tools/train.py)."""
import argparse
import os
import os.path as osp

# Only argparse and mmengine's config helpers before the arguments are parsed: `--help` answers at once. The stack
# (m33d_mm first: its fixes must precede torchvision/mmseg/mmaction imports) is imported in main().
from mmengine.config import DictAction


def shutdown_distributed():
    """Tear the process group down before exit: left to interpreter shutdown, gloo's threads can abort it."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def check_checkpoint(runner, cfg):
    """Stop with one clear line when ``load_from`` / ``--resume`` names a file that is no checkpoint of this model."""
    from m33d_mm.engine.checkpoint import latest_checkpoint
    from m33d_mm.models.checkpoint import CheckpointMismatchError, check_model_checkpoint
    path = cfg.get('load_from')
    if cfg.get('resume') and path is None:
        path = latest_checkpoint(cfg.work_dir, log=False)
    if path is None:
        return
    if '://' not in path and not osp.isfile(path):
        raise SystemExit(f'checkpoint {path} (load_from / --resume) does not exist')
    try:
        check_model_checkpoint(runner.model, path)
    except CheckpointMismatchError as err:
        raise SystemExit(f'error: {err}') from None


def train(runner):
    """``runner.train()``; a checkpoint that cannot be used (``pretrained``, ``init_cfg``) ends in one line."""
    from m33d_mm.models.checkpoint import CheckpointMismatchError
    try:
        runner.train()
    except CheckpointMismatchError as err:
        raise SystemExit(f'error: {err}') from None


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest one in the work dir if no '
                        'path is given')
    parser.add_argument('--trust-checkpoint', action='append', metavar='FILE', default=[],
                        help='fully unpickle this checkpoint file (it can then run code); only for files you trust')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 with loss scaling on GPUs, bf16 autocast on CPUs')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale the lr with the total batch size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_dataloader.batch_size=8')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    from m33d_mm.models.checkpoint import trust_checkpoint
    for path in getattr(args, 'trust_checkpoint', None) or []:  # also for callers that build their own args
        trust_checkpoint(path)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        import torch
        if not torch.cuda.is_available():
            # mmengine's AmpOptimWrapper needs a GPU; bf16 autocast needs no loss scaling and runs on CPU.
            cfg.optim_wrapper.type = 'AutocastOptimWrapper'
            cfg.optim_wrapper.pop('loss_scale', None)
            cfg.optim_wrapper.dtype = 'bfloat16'
            cfg.custom_imports = cfg.get('custom_imports') or dict(imports=[], allow_failed_imports=False)
            if 'm33d_mm.engine' not in cfg.custom_imports['imports']:
                cfg.custom_imports['imports'] = list(cfg.custom_imports['imports']) + ['m33d_mm.engine']
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg, args.config)
    return cfg


def enable_auto_scale_lr(cfg, config_path):
    """``--auto-scale-lr``: the runner scales the lr by total batch / ``auto_scale_lr.base_batch_size``."""
    scale = cfg.get('auto_scale_lr')
    if not scale or not scale.get('base_batch_size'):
        raise SystemExit(f'error: --auto-scale-lr: {config_path} sets no auto_scale_lr.base_batch_size (the total '
                         'batch size its lr was chosen for); add e.g. auto_scale_lr = dict(base_batch_size=16)')
    scale.enable = True


def main():
    args = parse_args()
    import m33d_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = merge_args(Config.fromfile(args.config), args)
    if 'runner_type' in cfg:
        # FlexibleRunner (FSDP / DeepSpeed strategies) and other custom runners
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    check_checkpoint(runner, cfg)
    train(runner)
    shutdown_distributed()


if __name__ == '__main__':
    main()
