"""Each loss against values computed by hand from the paper's equations."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from m33d_mm.models import (DepthReconstructionLoss, PatchInfoNCELoss, RGBDMatchingHead, RGBDReconstructionHead,
                            RGBReconstructionLoss, robust_standardize)
from m33d_mm.models.utils import MaskedEncoding


def test_rgb_loss_eq1_masked_tokens_only():
    pred = torch.tensor([[[1., 2.], [0., 0.], [5., 5.]]])
    target = torch.tensor([[[0., 0.], [1., 1.], [0., 0.]]])
    mask = torch.tensor([[1., 1., 0.]])  # third token visible: its error must not count
    # token 0: (1 + 4) / 2 = 2.5; token 1: (1 + 1) / 2 = 1; mean over masked tokens = 1.75
    assert RGBReconstructionLoss()(pred, target, mask).item() == pytest.approx(1.75)
    pred[0, 2] = 100.
    assert RGBReconstructionLoss()(pred, target, mask).item() == pytest.approx(1.75)


def test_depth_loss_eq2_ignores_visible_tokens_and_invalid_pixels():
    pred = torch.tensor([[[1., 3.], [2., 2.], [9., 9.]]])
    target = torch.tensor([[[0., 0.], [0., 4.], [0., 0.]]])
    mask = torch.tensor([[1., 1., 0.]])
    valid = torch.tensor([[[1., 0.], [1., 1.], [1., 1.]]])  # pixel (0, 1) has no depth reading
    # L1 over masked valid pixels: |1| + |2| + |-2| = 5 over 3 pixels
    assert DepthReconstructionLoss('l1')(pred, target, mask, valid).item() == pytest.approx(5 / 3)
    # MSE: 1 + 4 + 4 = 9 over 3
    assert DepthReconstructionLoss('mse')(pred, target, mask, valid).item() == pytest.approx(3.0)
    pred[0, 0, 1] = 1000.  # invalid pixel
    pred[0, 2] = -1000.  # visible token
    assert DepthReconstructionLoss('l1')(pred, target, mask, valid).item() == pytest.approx(5 / 3)


def test_depth_loss_without_any_valid_masked_pixel_is_zero_with_gradient():
    pred = torch.ones(1, 2, 2, requires_grad=True)
    loss = DepthReconstructionLoss()(pred, torch.zeros(1, 2, 2), torch.tensor([[1., 0.]]), torch.zeros(1, 2, 2))
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad is not None


def eq3_by_hand(rgb, depth, tau):
    """Literal eq. (3): -1/N sum_i log(exp(s_ii/tau) / (sum_{k != i} exp(s_ik/tau) + exp(s_ii/tau)))."""
    total = 0.0
    batch, num, _ = rgb.shape
    for b in range(batch):
        for i in range(num):
            r = rgb[b, i] / np.linalg.norm(rgb[b, i])
            sims = [float(r @ (depth[b, k] / np.linalg.norm(depth[b, k]))) for k in range(num)]
            positive = math.exp(sims[i] / tau)
            negatives = sum(math.exp(sims[k] / tau) for k in range(num) if k != i)
            total += -math.log(positive / (negatives + positive))
    return total / (batch * num)


def test_patch_infonce_eq3_matches_hand_computation():
    rng = np.random.default_rng(0)
    rgb = rng.normal(size=(2, 5, 4)).astype(np.float32)
    depth = rng.normal(size=(2, 5, 4)).astype(np.float32)
    loss = PatchInfoNCELoss(tau=0.2)(torch.from_numpy(rgb), torch.from_numpy(depth))
    assert loss.item() == pytest.approx(eq3_by_hand(rgb, depth, 0.2), rel=1e-5)
    symmetric = PatchInfoNCELoss(tau=0.2, symmetric=True)(torch.from_numpy(rgb), torch.from_numpy(depth))
    reverse = eq3_by_hand(depth, rgb, 0.2)
    assert symmetric.item() == pytest.approx(0.5 * (eq3_by_hand(rgb, depth, 0.2) + reverse), rel=1e-5)


def test_patch_infonce_batch_negatives_match_hand_computation():
    rng = np.random.default_rng(1)
    rgb = rng.normal(size=(3, 4, 5)).astype(np.float32)
    depth = rng.normal(size=(3, 4, 5)).astype(np.float32)
    loss = PatchInfoNCELoss(tau=0.3, negatives='batch')(torch.from_numpy(rgb), torch.from_numpy(depth))
    # every patch of every sample is a candidate: eq. (3) over one "image" holding all B*N patches
    assert loss.item() == pytest.approx(eq3_by_hand(rgb.reshape(1, 12, 5), depth.reshape(1, 12, 5), 0.3), rel=1e-5)
    with pytest.raises(ValueError, match='negatives must be one of'):
        PatchInfoNCELoss(negatives='queue')


def test_patch_infonce_position_shortcut_only_beats_image_negatives():
    # features that carry the patch position and nothing of the content (the same in both modalities and in
    # every sample): within-image negatives are separated from the positive perfectly, batch negatives are not
    batch, num = 4, 6
    position = F.normalize(torch.randn(1, num, 16), dim=-1).expand(batch, num, 16)
    image = PatchInfoNCELoss(tau=0.01)(position, position)
    batch_negatives = PatchInfoNCELoss(tau=0.01, negatives='batch')(position, position)
    assert image.item() < 0.05
    assert batch_negatives.item() == pytest.approx(math.log(batch), rel=1e-3)


def test_patch_infonce_prefers_aligned_patches_and_learns_temperature():
    feats = torch.randn(1, 6, 8)
    aligned = PatchInfoNCELoss(tau=0.1)(feats, feats)
    shuffled = PatchInfoNCELoss(tau=0.1)(feats, feats[:, torch.randperm(6)])
    assert aligned < shuffled
    learnable = PatchInfoNCELoss(tau=0.07, learnable_temperature=True)
    assert [n for n, _ in learnable.named_parameters()] == ['logit_scale']
    learnable(feats, feats).backward()
    assert learnable.logit_scale.grad is not None
    assert list(PatchInfoNCELoss().parameters()) == []
    with pytest.raises(ValueError, match='tau must be positive'):
        PatchInfoNCELoss(tau=0)


def test_matching_eq4_matches_hand_computation():
    head = RGBDMatchingHead(in_channels=2)
    with torch.no_grad():
        head.classifier.weight.copy_(torch.tensor([[0., 0., 0., 0., -1., -1.], [0., 0., 0., 0., 1., 1.]]))
        head.classifier.bias.zero_()
    rgb = torch.tensor([[1., 0.], [0., 1.]])
    depth = torch.tensor([[2., 0.], [0., 3.]])
    # with B = 2 the only non-zero shift pairs sample 0 with depth 1 and vice versa.
    # matched pairs: r * d = (2, 0) and (0, 3) -> logits (-2, 2) and (-3, 3): p(matched) = sigmoid(4), sigmoid(6)
    # unmatched pairs: r * d = 0 -> logits (0, 0): p(not matched) = 0.5
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = (-math.log(sigmoid(4)) - math.log(sigmoid(6)) + 2 * -math.log(0.5)) / 4
    assert head.loss(rgb, depth).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match='batch of at least 2'):
        head.loss(rgb[:1], depth[:1])


def test_reconstruction_head_normalises_rgb_per_patch_and_uses_depth_validity():
    head = RGBDReconstructionHead(patch_size=2)
    rgb = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).view(2, 3, 2, 4)
    target = head.construct_target('rgb', rgb)
    assert target.shape == (2, 2, 12)
    assert torch.allclose(target.mean(-1), torch.zeros(2, 2), atol=1e-5)
    assert torch.allclose(target.var(-1), torch.ones(2, 2), atol=1e-3)
    depth = torch.ones(2, 1, 2, 4)
    valid = torch.ones_like(depth, dtype=torch.bool)
    valid[:, :, :, :2] = False  # first patch has no valid depth
    enc = MaskedEncoding(latent={}, ids_keep={}, mask=dict(rgb=torch.ones(2, 2), depth=torch.ones(2, 2)),
                         grid=(1, 2))
    preds = dict(rgb=target.clone(), depth=torch.zeros(2, 2, 4))
    preds['depth'][:, 0] = 50.  # wrong, but on invalid pixels only
    out = head.loss(preds, dict(rgb=rgb, depth=depth, valid=dict(depth=valid)), enc)
    assert out['rgb'].item() == pytest.approx(0.0, abs=1e-6)
    assert out['depth'].item() == pytest.approx(1.0)


def robust_by_hand(values, trim=0.1):
    lo, hi = np.quantile(values, [trim, 1 - trim])
    kept = values[(values >= lo) & (values <= hi)]
    return (values - kept.mean()) / np.sqrt(kept.var() + 1e-6)


def test_robust_depth_standardisation_matches_numpy_and_zeroes_invalid():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 5.0, size=(2, 1, 6, 7)).astype(np.float32)
    depth[0, 0, 0, :3] = 0  # missing readings
    valid = depth > 0
    out = robust_standardize(torch.from_numpy(depth), torch.from_numpy(valid)).numpy()
    for b in range(2):
        vals = depth[b][valid[b]]
        assert np.allclose(out[b][valid[b]], robust_by_hand(vals), atol=1e-4)
    assert np.all(out[0, 0, 0, :3] == 0)
