"""Evaluate a checkpoint with mmengine's runner (same interface as OpenMMLab's tools/test.py)."""
import argparse
import os
import os.path as osp

import m33d_mm  # noqa: F401  (stack fixes must precede torchvision/mmseg/mmaction imports)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner


def shutdown_distributed():
    """Tear the process group down before exit: left to interpreter shutdown, gloo's threads can abort it."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def check_and_test(runner, args):
    """Refuse a file that is no checkpoint of this model in one clear line, then evaluate."""
    from m33d_mm.models.checkpoint import CheckpointMismatchError, check_model_checkpoint, trust_checkpoint
    if args.trust_checkpoint:
        trust_checkpoint(args.checkpoint)
    try:
        check_model_checkpoint(runner.model, args.checkpoint)
        return runner.test()
    except CheckpointMismatchError as err:
        raise SystemExit(f'error: {err}') from None


def parse_args():
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='dump the metrics to this JSON file')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='fully unpickle the checkpoint (it can then run code); only for a file you trust')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint} does not exist')
    cfg.load_from = args.checkpoint
    runner = Runner.from_cfg(cfg)
    metrics = check_and_test(runner, args)
    shutdown_distributed()
    if args.out:
        import json
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)


if __name__ == '__main__':
    main()
