"""Figures of masked RGB-D reconstructions: drawn by ``tools/visualize_reconstruction.py`` and, during
training, by :class:`ReconstructionVisualizationHook`."""
import copy
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..models.utils import patchify, unpatchify

MASKED_COLOUR = (0.55, 0.55, 0.55)  # grey: outside the turbo colour map used for depth
INVALID_COLOUR = (1.0, 1.0, 1.0)  # white: pixels without a depth measurement
RANDOM_TRANSFORMS = ('RGBDRandomResizedCrop', 'RGBDRandomFlip')
# colour-bar label for each RGBDDataPreprocessor.depth_norm: depth is drawn in the units the model reconstructs
DEPTH_UNITS = {
    'robust': 'depth, standardised per frame (robust z-score, unitless)',
    'global': 'depth, (d - depth_mean) / depth_std (unitless)',
    'none': 'depth (m)',
}


def validation_dataset_cfg(cfg) -> dict:
    """The frames a reconstruction figure shows: validation frames, whole (resized, not randomly cropped).

    ``val_dataloader.dataset`` when the config has one; otherwise the training dataset read from the validation
    split next to its training split (``splits/val.txt`` for ``splits/train.txt``, ``scannetv2_val.txt`` for
    ``scannetv2_train.txt``) when that file exists. Random crops and flips of the pipeline become one
    ``RGBDResize`` to the crop size.
    """
    if cfg.get('val_dataloader') and cfg.val_dataloader.get('dataset'):
        dataset = copy.deepcopy(cfg.val_dataloader.dataset)
    else:
        dataset = copy.deepcopy(cfg.train_dataloader.dataset)
        split = dataset.get('split_file')
        if split:
            val_split = osp.join(osp.dirname(split), osp.basename(split).replace('train', 'val'))
            path = val_split if osp.isabs(val_split) else osp.join(dataset.get('data_root', ''), val_split)
            if val_split != split and osp.isfile(path):
                dataset['split_file'] = val_split
    pipeline = []
    for step in dataset.get('pipeline', []):
        kind = str(step.get('type', '')).rpartition('.')[2]
        if kind == 'RGBDRandomResizedCrop':
            pipeline.append(dict(type='RGBDResize', scale=tuple(step['scale'])))
        elif kind not in RANDOM_TRANSFORMS:
            pipeline.append(step)
    dataset['pipeline'] = pipeline
    return dataset


def pick_samples(dataset, num_samples: int) -> List[dict]:
    """``num_samples`` frames spread evenly over the dataset (the same ones at every call)."""
    indices = np.linspace(0, len(dataset) - 1, min(num_samples, len(dataset))).astype(int)
    return [dataset[int(i)] for i in indices]


def _paste(pred_patches, target_patches, mask, norm_pix: bool):
    """Visible patches from the input, masked ones from the prediction (de-normalised per patch)."""
    if norm_pix:
        # The model predicts each patch normalised by its own mean and std (MAE's norm_pix_loss); to draw it,
        # those statistics are taken from the true patch, as MAE's visualisation does.
        mean = target_patches.mean(-1, keepdim=True)
        std = (target_patches.var(-1, keepdim=True) + 1e-6).sqrt()
        pred_patches = pred_patches * std + mean
    m = mask[..., None]
    return pred_patches * m + target_patches * (1 - m)


@torch.no_grad()
def reconstruction_figure(model, samples: Sequence[dict], title: Optional[str] = None):
    """A matplotlib figure: per sample, RGB and depth input, masked input and prediction.

    Masked patches are grey, pixels without depth white (a colour the depth colour map does not use); depth is
    drawn in the standardised units the model reconstructs, with a colour bar.

    Args:
        model: an :class:`~m33d_mm.models.M33D` with the rgb or depth reconstruction term active.
        samples: packed samples (``inputs = dict(rgb, depth)``), e.g. from :func:`pick_samples`.
        title: shown above the figure.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    batch = dict(inputs={k: [s['inputs'][k] for s in samples] for k in ('rgb', 'depth')},
                 data_samples=[s['data_samples'] for s in samples])
    inputs = model.data_preprocessor(batch)['inputs']
    enc = model.backbone.forward_mim(inputs)
    preds = model.neck(enc)
    p = model.head.patch_size
    norm_pix = model.head.norm_pix

    mean = model.data_preprocessor.mean.view(1, 3, 1, 1).cpu()
    std = model.data_preprocessor.std.view(1, 3, 1, 1).cpu()
    panels, masks = {}, {}
    for name, channels in (('rgb', 3), ('depth', 1)):
        target = patchify(inputs[name], p)
        mask = enc.mask[name].float()
        recon = _paste(preds[name].float(), target, mask, norm_pix.get(name, False))
        panels[name] = [inputs[name].cpu(), unpatchify(recon, enc.grid, channels, p).cpu()]
        masks[name] = unpatchify(mask[..., None].expand(-1, -1, p * p), enc.grid, 1, p)[:, 0].bool().cpu()
    valid = inputs['valid']['depth']
    invalid = ~valid[:, 0].cpu()
    depth = inputs['depth'][valid]
    lo, hi = (depth.quantile(0.02).item(), depth.quantile(0.98).item()) if depth.numel() else (-1., 1.)
    turbo = plt.get_cmap('turbo')

    def depth_rgb(values, grey=None, white=None):
        img = turbo(np.clip((values.numpy() - lo) / max(hi - lo, 1e-6), 0, 1))[..., :3]
        if white is not None:
            img[white.numpy()] = INVALID_COLOUR
        if grey is not None:
            img[grey.numpy()] = MASKED_COLOUR
        return img

    titles = ['RGB input', 'RGB masked', 'RGB prediction', 'depth input', 'depth masked', 'depth prediction']
    fig, axes = plt.subplots(len(samples), 6, figsize=(16, 2.7 * len(samples) + 1.2), squeeze=False)
    for row in range(len(samples)):
        rgb_in, rgb_pred = [(img[row:row + 1] * std + mean).clamp(0, 255)[0].permute(1, 2, 0).numpy() / 255.
                            for img in panels['rgb']]
        rgb_masked = rgb_in.copy()
        rgb_masked[masks['rgb'][row].numpy()] = MASKED_COLOUR
        d_in, d_pred = panels['depth'][0][row, 0], panels['depth'][1][row, 0]
        images = [rgb_in, rgb_masked, rgb_pred, depth_rgb(d_in, white=invalid[row]),
                  depth_rgb(d_in, grey=masks['depth'][row], white=invalid[row]),
                  # predicted patches everywhere they were masked; visible patches keep their holes
                  depth_rgb(d_pred, white=invalid[row] & ~masks['depth'][row])]
        for col, image in enumerate(images):
            axes[row, col].imshow(image)
            axes[row, col].axis('off')
            if row == 0:
                axes[row, col].set_title(titles[col])
    scalar = plt.cm.ScalarMappable(norm=matplotlib.colors.Normalize(lo, hi), cmap=turbo)
    bar = fig.colorbar(scalar, ax=axes[:, 3:].ravel().tolist(), fraction=0.02, pad=0.01)
    bar.set_label(DEPTH_UNITS.get(getattr(model.data_preprocessor, 'depth_norm', 'robust'), 'depth'))
    fig.legend(handles=[Patch(color=MASKED_COLOUR, label='masked patch'),
                        Patch(facecolor=INVALID_COLOUR, edgecolor='black', label='no depth measured')],
               loc='lower right', ncol=2, frameon=False)
    rgb_note = ('RGB prediction: each masked patch is de-normalised with the mean and std of the true patch '
                '(the model predicts per-patch normalised pixels), as in MAE\'s figures'
                if norm_pix.get('rgb', False) else 'RGB prediction: pixels as predicted')
    fig.text(0.01, 0.01, rgb_note, fontsize=8, ha='left', va='bottom')
    if title:
        fig.suptitle(title)
    return fig


def figure_to_array(fig) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB image of a drawn figure (for vis backends)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


@HOOKS.register_module()
class ReconstructionVisualizationHook(Hook):
    """Every ``interval`` training iterations, the reconstruction figure of ``tools/visualize_reconstruction.py``
    on the same validation frames: written to ``<work_dir>/<out_dir>/iter_<n>.png`` and passed to the
    configured vis backends (``visualizer.vis_backends``: local files, TensorBoard, ...) as image
    ``reconstruction``.

    Args:
        interval (int): training iterations between figures.
        num_samples (int): frames per figure.
        out_dir (str): folder inside the work directory.
        dataset (dict, optional): dataset config of the frames; default :func:`validation_dataset_cfg` of the
            runner's config.
    """
    priority = 'LOW'

    def __init__(self, interval: int = 1000, num_samples: int = 3, out_dir: str = 'reconstructions',
                 dataset: Optional[dict] = None):
        if interval < 1 or num_samples < 1:
            raise ValueError(f'ReconstructionVisualizationHook: interval and num_samples must be >= 1, got '
                             f'{interval} and {num_samples}')
        self.interval, self.num_samples, self.out_dir = interval, num_samples, out_dir
        self.dataset_cfg = dataset
        self._samples = None

    def _model(self, runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        if not getattr(model, 'masked_terms_active', False):
            raise ValueError('ReconstructionVisualizationHook: the model trains no reconstruction (rgb/depth loss '
                             'weights are 0); use it with a stage-2 config')
        if getattr(model.backbone, 'tubelet_size', None):
            raise ValueError('ReconstructionVisualizationHook: draws image reconstructions, but this model encodes '
                             'video clips (backbone.tubelet_size is set)')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        from mmengine.dist import is_main_process
        if not is_main_process():
            return
        from mmpretrain.registry import DATASETS
        import matplotlib.pyplot as plt
        if self._samples is None:
            dataset = DATASETS.build(self.dataset_cfg or validation_dataset_cfg(runner.cfg))
            self._samples = pick_samples(dataset, self.num_samples)
        model = self._model(runner)
        was_training = model.training
        # the same masks at every figure, and the training run's random streams left as they were
        cpu_state = torch.random.get_rng_state()
        cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        torch.manual_seed(0)
        model.eval()
        try:
            fig = reconstruction_figure(model, self._samples, title=f'iteration {runner.iter + 1}')
        finally:
            model.train(was_training)
            torch.random.set_rng_state(cpu_state)
            if cuda_state is not None:
                torch.cuda.set_rng_state_all(cuda_state)
        folder = osp.join(runner.work_dir, self.out_dir)
        os.makedirs(folder, exist_ok=True)
        fig.savefig(osp.join(folder, f'iter_{runner.iter + 1}.png'), dpi=80)
        runner.visualizer.add_image('reconstruction', figure_to_array(fig), step=runner.iter + 1)
        plt.close(fig)
