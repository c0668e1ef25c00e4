"""Evaluate a checkpoint with mmengine's runner (the stock OpenMMLab tools/test.py).

The metrics also go to ``WORK_DIR/metrics.json``; the runner refuses a checkpoint that does not fit the model
(``m33d_mm.compat``).
"""
import argparse
import os
import os.path as osp

# Only argparse and mmengine's config helpers before the arguments are parsed: `--help` answers at once.
from mmengine.config import DictAction


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
    import m33d_mm  # noqa: F401  the stack fixes (m33d_mm.compat) precede mmengine's first model imports
    from mmengine.config import Config
    from mmengine.dist import is_main_process
    from mmengine.runner import Runner
    if args.trust_checkpoint:
        from m33d_mm.models.checkpoint import trust_checkpoint
        trust_checkpoint(args.checkpoint)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.out is not None:
        add_dump_results(cfg, args.out)
    metrics = Runner.from_cfg(cfg).test()
    if is_main_process():
        print(f'metrics written to {write_metrics(metrics, cfg.work_dir)}')


if __name__ == '__main__':
    main()
