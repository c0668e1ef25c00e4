"""Depth fine-tuning in mmseg: DPT head, BerHu / SiLog losses with invalid pixels, DepthEstimator contract."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import m33d_mm.segmentation  # noqa: F401
from m33d_mm.segmentation import BerHuLoss, DPTDepthHead

from conftest import TINY_ARCH


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Build in mmseg's scope, as a runner of these configs does, without leaking it to other test modules."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


def depth_sample(depth):
    return SegDataSample(gt_depth_map=PixelData(data=depth))


def tiny_head(**kwargs):
    head = DPTDepthHead(in_channels=32, channels=16, reassemble_channels=(8, 8, 16, 16), head_channels=8, **kwargs)
    head.init_weights()
    return head


def test_dpt_head_initialises_its_mmseg_base_with_the_former_weights_and_outputs():
    """BaseDecodeHead.__init__ runs (its attributes are there) without adding tensors or drawing random numbers:
    the state-dict keys, the seeded initial weights and the output are those of the head before it called it."""
    import hashlib
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    torch.manual_seed(0)
    head = tiny_head()
    assert isinstance(head, BaseDecodeHead) and not hasattr(head, 'conv_seg') and head.dropout is None
    assert (head.num_classes, head.out_channels, head.input_transform, head.in_index) == (1, 1, 'multiple_select',
                                                                                          [0, 1, 2, 3])
    keys = list(head.state_dict())
    assert len(keys) == 60 and hashlib.sha1(' '.join(keys).encode()).hexdigest() == \
        '3c10004d2ba131da30b79b66098f20003b53e9c0'
    assert sum(float(v.double().sum()) for v in head.state_dict().values()) == pytest.approx(1.0988192771337708,
                                                                                           rel=1e-6)
    torch.manual_seed(1)
    out = head(tuple(torch.randn(2, 32, 3, 5) for _ in range(4))).detach().double()
    assert float(out.sum()) == pytest.approx(19306.66605067253, rel=1e-5)
    assert float(out.pow(2).sum()) == pytest.approx(48535.23242684232, rel=1e-5)


@pytest.mark.parametrize('grid', [(4, 4), (5, 7), (3, 8)])
def test_dpt_head_output_size_and_positivity(grid):
    head = tiny_head()
    feats = tuple(torch.randn(2, 32, *grid) for _ in range(4))
    depth = head(feats)
    # 16 x the token grid: the input size for 16-pixel patches, any grid (odd, non-square)
    assert depth.shape == (2, 1, 16 * grid[0], 16 * grid[1])
    assert (depth > 0).all()


@pytest.mark.parametrize('activation', ['softplus', 'exp', 'relu'])
def test_dpt_head_starts_at_init_depth(activation):
    head = tiny_head(activation=activation, init_depth=3.0)
    for module in head.modules():
        if isinstance(module, torch.nn.Conv2d) and module is not head.depth_pred[-1]:
            torch.nn.init.zeros_(module.weight)
    torch.nn.init.zeros_(head.depth_pred[-1].weight)
    depth = head(tuple(torch.randn(1, 32, 2, 3) for _ in range(4)))
    assert torch.allclose(depth, torch.full_like(depth, 3.0), atol=1e-5)


def test_dpt_head_selects_four_inputs():
    head = tiny_head(in_index=(1, 3, 5, 7))
    feats = [torch.randn(1, 32, 2, 2) for _ in range(8)]
    assert head(tuple(feats)).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match='four levels'):
        DPTDepthHead(in_channels=32, in_index=(0, 1, 2))
    with pytest.raises(ValueError, match='activation'):
        DPTDepthHead(in_channels=32, activation='tanh')


def test_berhu_matches_hand_computed_value():
    loss = BerHuLoss(threshold=0.2)
    pred = torch.tensor([1.0, 2.0, 3.0, 5.0]).view(1, 1, 2, 2)
    target = torch.tensor([1.5, 2.0, 0.0, 1.0]).view(1, 1, 2, 2)  # third pixel has no depth
    # valid errors 0.5, 0, 4 -> c = 0.8; 0.5 and 0 are L1, 4 is (16 + 0.64) / 1.6 = 10.4
    assert loss(pred, target).item() == pytest.approx((0.5 + 0.0 + 10.4) / 3, rel=1e-6)
    assert loss.loss_name == 'loss_berhu'


def test_berhu_without_valid_pixels_is_zero_with_gradient():
    pred = torch.rand(1, 1, 4, 4, requires_grad=True)
    value = BerHuLoss()(pred, torch.zeros(1, 1, 4, 4))
    value.backward()
    assert value.item() == 0.0 and torch.all(pred.grad == 0)


@pytest.mark.parametrize('loss', [dict(type='BerHuLoss'), dict(type='SiLogLoss')])
def test_dpt_loss_ignores_invalid_depth(loss):
    torch.manual_seed(0)
    head = tiny_head(loss_decode=loss)
    pred = head(tuple(torch.randn(2, 32, 2, 3) for _ in range(4)))  # (2, 1, 32, 48)
    gt = torch.rand(2, 1, 32, 48) * 4 + 0.5
    gt[:, :, :8] = 0  # missing depth
    samples = [depth_sample(g) for g in gt]
    losses = head.loss_by_feat(pred, samples)
    assert set(losses) == {MODELS.build(loss).loss_name}
    value = next(iter(losses.values()))
    assert torch.isfinite(value) and value > 0
    other = pred.detach().clone()
    other[:, :, :8] = 100.0  # anything where the target is missing
    assert torch.allclose(next(iter(head.loss_by_feat(other, samples).values())), value.detach())
    value.backward()


def test_dpt_loss_resizes_prediction_to_ground_truth():
    head = tiny_head()
    pred = head(tuple(torch.randn(1, 32, 2, 3) for _ in range(4)))
    losses = head.loss_by_feat(pred, [depth_sample(torch.full((1, 40, 50), 2.0))])
    assert torch.isfinite(losses['loss_berhu'])


def test_dpt_predict_clamps_and_resizes():
    head = tiny_head(min_depth=0.5, max_depth=4.0)
    pred = torch.tensor([0.01, 1.0, 2.0, 100.0]).view(1, 1, 2, 2)
    out = head.predict_by_feat(pred, [dict(img_shape=(2, 2), pad_shape=(2, 2))])
    assert out.flatten().tolist() == [0.5, 1.0, 2.0, 4.0]
    assert head.predict_by_feat(pred, [dict(img_shape=(6, 8), pad_shape=(6, 8))]).shape == (1, 1, 6, 8)


def test_depth_estimator_loss_and_predict_contract():
    model = MODELS.build(dict(
        type='DepthEstimator',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1], size=(32, 48),
                               seg_pad_val=0, test_cfg=dict(size_divisor=16)),
        backbone=dict(type='RGBDViT', arch=dict(TINY_ARCH, num_layers=4), modalities=dict(rgb=3), patch_size=16,
                      out_indices=(0, 1, 2, 3)),
        decode_head=dict(type='DPTDepthHead', in_channels=32, channels=16, reassemble_channels=(8, 8, 16, 16)),
        test_cfg=ConfigDict(mode='whole')))
    model.init_weights()
    # a 30 x 40 training image is padded to 32 x 48 with depth 0, which the loss ignores
    train = [SegDataSample(gt_depth_map=PixelData(data=torch.rand(1, 30, 40) + 1.0),
                           metainfo=dict(img_shape=(30, 40), ori_shape=(30, 40))) for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=[torch.rand(3, 30, 40) * 255] * 2, data_samples=train), True)
    assert data['data_samples'][0].gt_depth_map.data[:, 30:].eq(0).all()
    losses = model.loss(**data)
    assert set(losses) == {'decode.loss_berhu'} and torch.isfinite(losses['decode.loss_berhu'])
    # inference: the padded 40 x 50 input is cut back and resized to the original 80 x 100
    test = [SegDataSample(metainfo=dict(ori_shape=(80, 100), img_shape=(40, 50)))]
    data = model.data_preprocessor(dict(inputs=[torch.rand(3, 40, 50) * 255], data_samples=test))
    pred = model.predict(**data)[0].pred_depth_map.data
    assert pred.shape == (1, 80, 100) and (pred >= 1e-3).all() and (pred <= 10.0).all()
