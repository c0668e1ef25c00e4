"""Draw M3D reconstructions of validation frames: RGB and depth input, the masked input and the prediction.

    python tools/visualize_reconstruction.py configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py \
        work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd --out work_dirs/reconstruction.png

The checkpoint may be a file or a work directory (its last checkpoint). The frames are the config's validation
frames (``val_dataloader``, or the validation split next to the training split), resized to the training crop
size instead of randomly cropped. Masked patches are grey and pixels without depth white; depth is drawn in the
standardised units the model predicts (colour bar). Predicted RGB patches are de-normalised with the statistics
of the true patch, as MAE's figures do; the figure says so. During training,
``m33d_mm.engine.ReconstructionVisualizationHook`` draws the same figure every N iterations.
"""
import argparse
import os
import os.path as osp

# Only argparse and mmengine's config helpers before the arguments are parsed: `--help` answers at once.
from mmengine.config import DictAction


def resolve_checkpoint(path: str) -> str:
    """A checkpoint file, or the checkpoint a work directory's ``last_checkpoint`` names (as ``--resume`` finds it)."""
    if osp.isdir(path):
        from m33d_mm.engine.checkpoint import latest_checkpoint
        found = latest_checkpoint(path)
        if found is None:
            raise SystemExit(f'{path} holds no complete checkpoint: train first or pass a checkpoint file')
        return found
    if not osp.isfile(path):
        raise SystemExit(f'checkpoint {path} does not exist')
    return path


def parse_args():
    parser = argparse.ArgumentParser(description='Visualise masked RGB-D reconstructions of validation frames')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='checkpoint file or work directory')
    parser.add_argument('--out', default='work_dirs/reconstruction.png')
    parser.add_argument('--num-samples', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0, help='seed of the random masks')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    import m33d_mm  # noqa: F401  (stack fixes before torchvision / mmpretrain)
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmengine.utils import import_modules_from_strings

    from m33d_mm.engine.visualization_hook import pick_samples, reconstruction_figure, validation_dataset_cfg

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmpretrain.registry import DATASETS, MODELS

    model = MODELS.build(cfg.model)
    if not model.masked_terms_active:
        raise SystemExit(f'{args.config} trains no reconstruction (rgb/depth weights are 0): use a stage-2 config')
    load_checkpoint(model, resolve_checkpoint(args.checkpoint), map_location='cpu')
    model.eval()

    dataset_cfg = validation_dataset_cfg(cfg)
    samples = pick_samples(DATASETS.build(dataset_cfg), args.num_samples)
    torch.manual_seed(args.seed)
    fig = reconstruction_figure(model, samples, title=f'{osp.basename(args.config)}: validation frames '
                                f'({dataset_cfg.get("split_file") or dataset_cfg.get("data_root")})')
    if osp.dirname(args.out):
        os.makedirs(osp.dirname(args.out), exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f'reconstruction figure written to {args.out}')


if __name__ == '__main__':
    main()
