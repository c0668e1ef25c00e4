"""Draw M3D reconstructions: for each sample, RGB and depth input, the masked input and the prediction.

    python tools/visualize_reconstruction.py configs/quickstart/m33d_tiny_synthetic_stage2.py \
        work_dirs/m33d_tiny_synthetic_stage2 --out work_dirs/reconstruction.png

The checkpoint may be a file or a work directory (its last checkpoint). Predicted RGB patches are shown in
pixel space by undoing the per-patch normalisation with the statistics of the true patch (as MAE's
visualisation does); depth is shown in the standardised units the model predicts.
"""
import argparse
import os.path as osp

import m33d_mm  # noqa: F401
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402
from mmengine.utils import import_modules_from_strings  # noqa: E402


def resolve_checkpoint(path: str) -> str:
    if osp.isdir(path):
        pointer = osp.join(path, 'last_checkpoint')
        if not osp.isfile(pointer):
            raise SystemExit(f'{path} has no last_checkpoint: train first or pass a checkpoint file')
        with open(pointer) as f:
            return f.read().strip()
    if not osp.isfile(path):
        raise SystemExit(f'checkpoint {path} does not exist')
    return path


def paste(pred_patches, target_patches, mask, norm_pix):
    """Visible patches from the input, masked ones from the prediction (de-normalised per patch)."""
    if norm_pix:
        mean = target_patches.mean(-1, keepdim=True)
        std = (target_patches.var(-1, keepdim=True) + 1e-6).sqrt()
        pred_patches = pred_patches * std + mean
    m = mask[..., None]
    return pred_patches * m + target_patches * (1 - m), target_patches * (1 - m)


def main():
    parser = argparse.ArgumentParser(description='Visualise masked RGB-D reconstructions')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='checkpoint file or work directory')
    parser.add_argument('--out', default='work_dirs/reconstruction.png')
    parser.add_argument('--num-samples', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmpretrain.registry import DATASETS, MODELS

    from m33d_mm.models.utils import patchify, unpatchify

    model = MODELS.build(cfg.model)
    if not model.masked_terms_active:
        raise SystemExit(f'{args.config} trains no reconstruction (rgb/depth weights are 0): use a stage-2 config')
    load_checkpoint(model, resolve_checkpoint(args.checkpoint), map_location='cpu')
    model.eval()

    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    items = [dataset[i] for i in np.linspace(0, len(dataset) - 1, args.num_samples).astype(int)]
    batch = dict(inputs={k: [it['inputs'][k] for it in items] for k in ('rgb', 'depth')},
                 data_samples=[it['data_samples'] for it in items])
    inputs = model.data_preprocessor(batch)['inputs']
    with torch.no_grad():
        enc = model.backbone.forward_mim(inputs)
        preds = model.neck(enc)

    p = model.head.patch_size
    mean = model.data_preprocessor.mean.view(1, 3, 1, 1)
    std = model.data_preprocessor.std.view(1, 3, 1, 1)
    panels = {}
    for name, channels in (('rgb', 3), ('depth', 1)):
        target = patchify(inputs[name], p)
        recon, masked = paste(preds[name], target, enc.mask[name], model.head.norm_pix.get(name, False))
        panels[name] = [inputs[name], unpatchify(masked, enc.grid, channels, p),
                        unpatchify(recon, enc.grid, channels, p)]
    titles = ['RGB input', 'RGB masked', 'RGB prediction', 'depth input', 'depth masked', 'depth prediction']
    fig, axes = plt.subplots(len(items), 6, figsize=(15, 2.6 * len(items)), squeeze=False)
    valid = inputs['depth_valid']
    lo, hi = inputs['depth'][valid].quantile(0.02).item(), inputs['depth'][valid].quantile(0.98).item()
    for row in range(len(items)):
        for col, img in enumerate(panels['rgb']):
            rgb = (img[row:row + 1] * std + mean).clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
            axes[row, col].imshow(rgb)
        for col, img in enumerate(panels['depth']):
            axes[row, 3 + col].imshow(img[row, 0].numpy(), cmap='turbo', vmin=lo, vmax=hi)
        for col in range(6):
            axes[row, col].axis('off')
            if row == 0:
                axes[row, col].set_title(titles[col])
    fig.tight_layout()
    out_dir = osp.dirname(args.out)
    if out_dir:
        import os
        os.makedirs(out_dir, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f'reconstruction figure written to {args.out}')


if __name__ == '__main__':
    main()
