"""Train a model from a config with mmengine's runner (the stock OpenMMLab tools/train.py).

The project's fixes and checks (CPU AMP, process-group teardown, checkpoint checks) live in ``m33d_mm.compat``
and apply to every runner, so this script, ``mim train m33d_mm CONFIG`` and a stock tool behave alike.
"""
import argparse
import os
import os.path as osp

# Only argparse and mmengine's config helpers before the arguments are parsed: `--help` answers at once.
from mmengine.config import DictAction


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
    """Merge the command line into the config."""
    if getattr(args, 'trust_checkpoint', None):  # callers may build their own args without it
        from m33d_mm.models.checkpoint import trust_checkpoint
        for path in args.trust_checkpoint:
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
        if not cfg.get('auto_scale_lr', {}).get('base_batch_size'):
            raise SystemExit(f'error: --auto-scale-lr: {args.config} sets no auto_scale_lr.base_batch_size (the '
                             'total batch size its lr was chosen for); add e.g. auto_scale_lr = '
                             'dict(base_batch_size=16)')
        cfg.auto_scale_lr.enable = True
    return cfg


def main():
    args = parse_args()
    import m33d_mm  # noqa: F401  the stack fixes (m33d_mm.compat) precede mmengine's first model imports
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    cfg = merge_args(Config.fromfile(args.config), args)
    # FlexibleRunner (FSDP / DeepSpeed strategies) and other custom runners come from the registry
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
