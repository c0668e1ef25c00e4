"""The ViT-B fine-tuning configs: their VideoMAE recipe pieces run, and layer decay gives the intended groups.

That every config loads and its model builds is tests/test_configs.py.
"""
import m33d_mm.action  # noqa: F401  (registers the model, data and transform classes in mmaction2)
import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from conftest import REPO

UCF101 = REPO / 'configs' / 'm33d' / 'recognizer3d_vit-base-p16_m33d-pre_8xb8-100e_ucf101.py'
ORAR = REPO / 'configs' / 'm33d' / 'recognizer3d_vit-base-p16_m33d-pre_8xb8-50e_orar-phase.py'


@pytest.fixture(scope='module')
def ucf101():
    return Config.fromfile(str(UCF101))


def test_ucf101_augmentations_run_on_decoded_frames(ucf101):
    pipeline = list(ucf101.train_dataloader.dataset.pipeline)
    after_decoding = pipeline[[t['type'] for t in pipeline].index('DecordDecode') + 1:]
    assert [t['type'] for t in after_decoding][-4:] == ['TorchVisionWrapper', 'RandomErasing', 'FormatShape',
                                                        'PackActionInputs']
    with DefaultScope.overwrite_default_scope('mmaction'):
        transform = Compose(after_decoding)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(16)]
    out = transform(dict(imgs=frames, img_shape=(120, 160), original_shape=(120, 160), num_clips=1, clip_len=16,
                         label=3, modality='RGB'))
    assert out['inputs'].shape == (1, 3, 16, 224, 224) and out['inputs'].dtype == torch.uint8
    assert out['data_samples'].gt_label.tolist() == [3]


def test_ucf101_mixup_cutmix_soft_labels_train_the_head(ucf101):
    with DefaultScope.overwrite_default_scope('mmaction'):
        preprocessor = MODELS.build(ucf101.model.data_preprocessor)
        head = MODELS.build(dict(ucf101.model.cls_head, in_channels=16))
    head.init_weights()
    torch.manual_seed(0)
    np.random.seed(0)
    batch = dict(inputs=[torch.randint(0, 256, (1, 3, 2, 16, 16), dtype=torch.uint8) for _ in range(4)],
                 data_samples=[ActionDataSample().set_gt_label(c) for c in (0, 5, 17, 100)])
    for _ in range(6):  # RandomBatchAugment picks mixup or cutmix per batch
        out = preprocessor(dict(inputs=list(batch['inputs']),
                                data_samples=[s.clone() for s in batch['data_samples']]), training=True)
        labels = torch.stack([s.gt_label for s in out['data_samples']])
        assert labels.shape == (4, 101) and torch.allclose(labels.sum(1), torch.ones(4))
        loss = head.loss(torch.randn(4, 16), out['data_samples'])
        assert set(loss) == {'loss_cls'} and torch.isfinite(loss['loss_cls'])
    assert out['inputs'].shape == (4, 1, 3, 2, 16, 16)


@pytest.mark.parametrize('path', [UCF101, ORAR], ids=['ucf101', 'orar'])
def test_vitb_layer_decay_groups(path):
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.pretrained = None
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
        # m33d_mm.compat (D12) builds AmpOptimWrapper as bf16 autocast on CPU; the groups do not depend on it
        wrapper = build_optim_wrapper(model, dict(cfg.optim_wrapper, type='OptimWrapper'))
    base_lr = 5e-4 * 64 / 256
    scale = {}
    for group in wrapper.optimizer.param_groups:
        for name in group['param_names']:
            scale[name] = group['lr'] / base_lr
    assert scale['backbone.patch_embed.rgb.projection.weight'] == pytest.approx(0.7**13)
    assert scale['backbone.layers.0.attn.qkv.weight'] == pytest.approx(0.7**12)
    assert scale['backbone.layers.11.ffn.layers.1.weight'] == pytest.approx(0.7)
    assert scale['cls_head.fc_cls.weight'] == scale['backbone.ln2.weight'] == pytest.approx(1.0)
    assert type(model.cls_head).__name__ == 'TimeSformerHead'  # the stock head
    assert model.cls_head.num_classes == (101 if path == UCF101 else 9)
