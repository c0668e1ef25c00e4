"""Evaluate a checkpoint with mmengine's runner (same interface as OpenMMLab's tools/test.py)."""
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
    parser.add_argument('--out', help='dump the predictions to this pickle file (.pkl), as the OpenMMLab tools do; '
                        'the metrics are always written to WORK_DIR/metrics.json')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='fully unpickle the checkpoint (it can then run code); only for a file you trust')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out {args.out}: the predictions are a pickle file; give a name ending in .pkl or .pickle')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def add_dump_results(cfg, out):
    """Append mmengine's ``DumpResults`` to the test evaluator: the predictions of every sample go to ``out``."""
    dump = dict(type='DumpResults', out_file_path=out)
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, (list, tuple)):
        cfg.test_evaluator = list(evaluator) + [dump]
    elif isinstance(evaluator, dict) and 'metrics' in evaluator:
        metrics = evaluator['metrics']
        metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        evaluator['metrics'] = metrics + [dump]
    else:
        cfg.test_evaluator = [evaluator, dump]


def write_metrics(metrics, work_dir):
    import json
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'metrics.json')
    with open(path, 'w') as f:
        json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
    return path


def main():
    args = parse_args()
    import m33d_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner
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
    if args.out is not None:
        add_dump_results(cfg, args.out)
    runner = Runner.from_cfg(cfg)
    metrics = check_and_test(runner, args)
    from mmengine.dist import is_main_process
    if is_main_process():
        print(f'metrics written to {write_metrics(metrics, cfg.work_dir)}')
    shutdown_distributed()


if __name__ == '__main__':
    main()
