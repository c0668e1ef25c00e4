"""Linear probes of frozen pre-trained encoders: how much geometry and class information their RGB features hold.

Companion of ``pretraining_study.py``: it reads that study's data and pre-trained encoders (``--study``) and,
for every arm, takes the frozen encoder's last-layer patch features of the RGB frames (what segmentation
fine-tuning starts from) and fits on the train scenes, then scores on the held-out val scenes:

* ``depth_rmse``: ridge regression of each patch's mean valid depth (metres); lower is better;
* ``class_acc`` / ``class_miou``: multinomial logistic regression of each patch's majority ScanNet-20 class
  (patches with no valid label are left out); mIoU over the classes present in val patches.

Every probe also gets a one-hot of the patch's place in the grid, and a reference row, ``position only``,
probes that one-hot alone: on indoor scenes position predicts a lot (floor below, wall above), so the rows
show what an encoder adds beyond where the patch is. ``scratch`` is the randomly initialised encoder.

The last column checks stage 1's contrastive features: eq. (3) on val frames with the RGB frame's own depth
map and with another frame's; a loss no higher with the wrong depth map means the features match patches by
their position code, not by what they show.

Probes are deterministic (closed-form ridge; full-batch L-BFGS from zeros), their regularisation is chosen on
held-out train scenes, and they take seconds per arm. A probe
isolates the encoder from the fine-tuning recipe; it asks whether pre-training put depth and shape information
into the RGB features, which is the paper's claim. From the study's output folder:

    python tools/experiments/probe_encoders.py --study work_dirs/study
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

from m33d_mm.datasets.label_maps import IGNORE_INDEX, nyu40_to_scannet20  # noqa: E402
from m33d_mm.models import PatchInfoNCELoss, RGBDViT, robust_standardize  # noqa: E402

# the quick-start encoder (configs/quickstart/*) and the fine-tuning input size
TINY = dict(embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
SIZE = (128, 160)
PATCH = 16
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
NUM_CLASSES = 20
# probe regularisation candidates (ridge lambda; logistic weight decay), chosen per encoder on held-out scenes
RIDGE_GRID = (1.0, 1e2, 1e4)
DECAY_GRID = (1e-4, 1e-3, 1e-2)


def load_split(root, split):
    """RGB frames (N, 3, H, W) normalised, per-patch mean depth (N, h*w), per-patch class (N, h*w)."""
    split_file = osp.join(root, 'splits', f'{split}.txt')
    if not osp.isfile(split_file):
        raise SystemExit(f'{split_file} not found: --study must be the output folder of pretraining_study.py')
    with open(split_file) as f:
        scenes = [line.strip() for line in f if line.strip()]
    images, depths, labels, scene_ids = [], [], [], []
    h, w = SIZE
    for scene_index, scene in enumerate(scenes):
        color_dir = osp.join(root, scene, 'color')
        for name in sorted(n for n in os.listdir(color_dir) if n.endswith('.jpg')):
            stem = osp.splitext(name)[0]
            rgb = cv2.cvtColor(cv2.imread(osp.join(color_dir, name)), cv2.COLOR_BGR2RGB)
            depth = cv2.imread(osp.join(root, scene, 'depth', stem + '.png'), cv2.IMREAD_UNCHANGED)
            label = cv2.imread(osp.join(root, scene, 'label', stem + '.png'), cv2.IMREAD_UNCHANGED)
            if rgb is None or depth is None or label is None:
                raise SystemExit(f'{scene}/{stem}: colour, depth or label file missing or unreadable')
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
            depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float32) / 1000.0
            label = nyu40_to_scannet20(cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST))
            images.append(((rgb - MEAN) / STD).transpose(2, 0, 1))
            scene_ids.append(scene_index)
            depths.append(depth)
            labels.append(label)
    images = torch.from_numpy(np.stack(images))
    depth = torch.from_numpy(np.stack(depths)).unflatten(1, (h // PATCH, PATCH)).unflatten(3, (w // PATCH, PATCH))
    depth = depth.permute(0, 1, 3, 2, 4).flatten(3)  # (N, h/P, w/P, P*P)
    valid = depth > 0
    mean_depth = (depth * valid).sum(-1) / valid.sum(-1).clamp(min=1)
    label = torch.from_numpy(np.stack(labels).astype(np.int64))
    label = label.unflatten(1, (h // PATCH, PATCH)).unflatten(3, (w // PATCH, PATCH)).permute(0, 1, 3, 2, 4).flatten(3)
    majority = torch.full(label.shape[:3], IGNORE_INDEX, dtype=torch.long)
    counts = F.one_hot(label.clamp(max=NUM_CLASSES), NUM_CLASSES + 1)[..., :NUM_CLASSES].sum(-2)  # 255 -> dropped
    has_label = counts.sum(-1) > 0
    majority[has_label] = counts.argmax(-1)[has_label]
    scenes = torch.tensor(scene_ids)[:, None].expand(-1, majority[0].numel())
    depth_maps = torch.from_numpy(np.stack(depths))[:, None]
    return (images, mean_depth.flatten(1), valid.any(-1).flatten(1), majority.flatten(1), scenes,
            robust_standardize(depth_maps, depth_maps > 0))


@torch.no_grad()
def features(encoder, images):
    encoder.eval()
    feats = [encoder(images[i:i + 32])[0] for i in range(0, len(images), 32)]  # (B, C, h, w)
    return torch.cat(feats).flatten(2).transpose(1, 2).flatten(0, 1)  # (N*h*w, C)


def standardise(train, val):
    mean, std = train.mean(0), train.std(0).clamp(min=1e-6)
    return (train - mean) / std, (val - mean) / std


def ridge(x, y, x_val, lam):
    x1 = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    a = x1.T @ x1 + lam * torch.eye(x1.shape[1], dtype=torch.double)
    coef = torch.linalg.solve(a, x1.T @ y.double())
    return (torch.cat([x_val, torch.ones(len(x_val), 1)], 1).double() @ coef).float()


def logistic(x, y, x_val, weight_decay, steps=100):
    linear = torch.nn.Linear(x.shape[1], NUM_CLASSES)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1, max_iter=steps, line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(x), y) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return linear(x_val).argmax(-1)


def select(fit, x, y, groups, x_val, grid, score):
    """Fit on the train patches with the regularisation of ``grid`` that scores best when half of the train
    scenes are held out (the probe has to generalise to unseen scenes, as the val split asks)."""
    held = groups % 2 == 1
    if held.all() or not held.any():  # a single train scene: nothing to hold out
        return fit(x, y, x_val, grid[len(grid) // 2])
    scores = [score(fit(x[~held], y[~held], x[held], lam), y[held]) for lam in grid]
    return fit(x, y, x_val, grid[int(np.argmin(scores))])


def miou(pred, target):
    ious = []
    for c in range(NUM_CLASSES):
        union = ((pred == c) | (target == c)).sum().item()
        if (target == c).any():
            ious.append(((pred == c) & (target == c)).sum().item() / union)
    return 100.0 * float(np.mean(ious))


def position_features(images):
    """Reference features that know only where a patch is: one-hot of its index in the grid."""
    num = (SIZE[0] // PATCH) * (SIZE[1] // PATCH)
    return torch.eye(num).repeat(len(images), 1)


def probe(encoder, train, val):
    def extract(images):
        # the position one-hot is always given, so a row shows what an encoder adds beyond the patch's place
        if encoder is None:
            return position_features(images)
        return torch.cat([features(encoder, images), position_features(images)], 1)

    f_train, f_val = standardise(extract(train[0]), extract(val[0]))
    d_train, d_val = train[1].flatten(), val[1].flatten()
    dv_train, dv_val = train[2].flatten(), val[2].flatten()
    groups = train[4].flatten()
    pred = select(ridge, f_train[dv_train], d_train[dv_train], groups[dv_train], f_val[dv_val], RIDGE_GRID,
                  lambda p, t: (p - t).pow(2).mean().item())
    rmse = (pred - d_val[dv_val]).pow(2).mean().sqrt().item()
    c_train, c_val = train[3].flatten(), val[3].flatten()
    lt, lv = c_train != IGNORE_INDEX, c_val != IGNORE_INDEX
    classes = select(logistic, f_train[lt], c_train[lt], groups[lt], f_val[lv], DECAY_GRID,
                     lambda p, t: -miou(p, t))
    return dict(depth_rmse=rmse, class_acc=100.0 * (classes == c_val[lv]).float().mean().item(),
                class_miou=miou(classes, c_val[lv]))


@torch.no_grad()
def contrastive_check(arm, path, val):
    """Stage 1's eq. (3) on val frames with each frame's own depth and with another frame's depth.

    If the two are alike, the contrastive features match patches by position, not by content."""
    encoder = RGBDViT(arch=dict(TINY), modalities=dict(rgb=3, depth=1), patch_size=PATCH, drop_path_rate=0.0,
                      pretrained=path)
    encoder.init_weights()
    encoder.eval()
    loss = PatchInfoNCELoss(tau=0.07)
    frames = torch.arange(0, len(val[0]), max(1, len(val[0]) // 32))[:32]
    feats = encoder.forward_modalities(dict(rgb=val[0][frames], depth=val[5][frames]))
    return dict(infonce_own_depth=loss(feats['rgb'], feats['depth']).item(),
                infonce_other_depth=loss(feats['rgb'], feats['depth'].roll(1, 0)).item())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--study', default='work_dirs/study', help='output folder of pretraining_study.py')
    parser.add_argument('--arms', nargs='+', help='arms to probe (default: every pre-trained arm found, and scratch)')
    parser.add_argument('--out', help='JSON file for the figures (default: STUDY/probes.json)')
    args = parser.parse_args()
    study = osp.abspath(args.study)
    root = osp.join(study, 'data')
    arms = args.arms or ['scratch'] + sorted(
        name for name in os.listdir(osp.join(study, 'pretrain'))
        if osp.isfile(osp.join(study, 'pretrain', name, 'last_checkpoint')))
    train, val = load_split(root, 'train'), load_split(root, 'val')
    print(f'{len(train[0])} train and {len(val[0])} val frames at {SIZE[0]}x{SIZE[1]}, '
          f'{train[1].shape[1]} patches each', flush=True)
    results = {'position only': probe(None, train, val)}
    print('| encoder | depth RMSE (m) | patch class acc (%) | patch class mIoU (%) | '
          'eq. (3) loss, own / other frame\'s depth |\n|---|---|---|---|---|')
    r = results['position only']
    print(f'| position only | {r["depth_rmse"]:.3f} | {r["class_acc"]:.1f} | {r["class_miou"]:.1f} | – |',
          flush=True)
    for arm in arms:
        torch.manual_seed(0)  # the scratch encoder's random initialisation
        path = None
        if arm != 'scratch':
            path = osp.join(study, 'pretrain', arm)
            if not osp.isdir(path):
                raise SystemExit(f'{path} does not exist (arms found under {study}/pretrain)')
        # built and initialised as segmentation fine-tuning builds it
        encoder = RGBDViT(arch=dict(TINY), modalities=dict(rgb=3), patch_size=PATCH, out_indices=(3, ),
                          out_type='featmap', drop_path_rate=0.0, pretrained=path)
        encoder.init_weights()
        results[arm] = probe(encoder, train, val)
        results[arm].update(contrastive_check(arm, path, val))
        r = results[arm]
        print(f'| {arm} | {r["depth_rmse"]:.3f} | {r["class_acc"]:.1f} | {r["class_miou"]:.1f} | '
              f'{r["infonce_own_depth"]:.2f} / {r["infonce_other_depth"]:.2f} |', flush=True)
    with open(args.out or osp.join(study, 'probes.json'), 'w') as f:
        json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
