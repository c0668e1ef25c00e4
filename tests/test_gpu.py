"""The GPU path: every config's model trains a step on CUDA, mixed precision, fused attention.

Tests marked ``gpu`` need a CUDA device and skip cleanly without one; ``pytest -m gpu`` runs only them
(``tools/benchmark/gpu_check.py`` does so on a GPU machine). The unmarked tests run the same batch builder on
the CPU for the tiny configs, so the GPU run starts from a harness that is known to work.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmengine.utils import import_modules_from_strings
from test_config_tree import ALIASES

REPO = Path(__file__).resolve().parents[1]
# configs/_base_/ holds fragments that recipes include, not models
# the former names are aliases of these (tests/test_config_tree.py)
CONFIGS = sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts and p not in ALIASES)
TINY_CONFIGS = [c for c in CONFIGS if 'quickstart' in c]
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason='needs a CUDA device (run on a GPU machine: pytest -m gpu)')


def build_model(path, device):
    from mmengine.registry import MODELS
    cfg = Config.fromfile(str(REPO / path))
    import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model.copy()
    if isinstance(model_cfg.get('backbone'), dict):  # weights are not part of this test
        model_cfg.backbone.pop('pretrained', None)
        model_cfg.backbone.pop('init_cfg', None)
    scope = cfg.get('default_scope', 'mmengine')
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)
        model.init_weights()
    return cfg, model.to(device).train(), scope


def raw_batch(cfg, model, batch=2):
    """A batch in the form the config's data pipeline packs it, sized for the model."""
    from mmengine.structures import LabelData  # noqa: F401  (mmaction's data samples build on it)
    kind = cfg.model.type
    big = getattr(model.backbone, 'embed_dims', 0) >= 768
    size = 224 if big else 64
    if kind == 'M33D':
        video = model.backbone.tubelet_size is not None
        shape = (3, 16 if big else 4, size, size) if video else (3, size, size)
        rgb = [torch.randint(0, 256, shape, dtype=torch.uint8) for _ in range(batch)]
        depth = [torch.rand((1, ) + shape[1:]) * 4 + 0.5 for _ in range(batch)]
        return dict(inputs=dict(rgb=rgb, depth=depth))
    if kind == 'MAE':
        patch = model.backbone.patch_embed.projection.kernel_size[0]
        side = model.backbone.patch_resolution[0] * patch
        # mmpretrain's SelfSupDataPreprocessor wants the batch stacked (default_collate)
        return dict(inputs=torch.randint(0, 256, (batch, 3, side, side), dtype=torch.uint8), data_samples=None)
    if kind in ('EncoderDecoder', 'DepthEstimator'):
        from mmseg.structures import SegDataSample
        size = tuple(cfg.model.data_preprocessor.get('size') or (size, size))
        samples = []
        for _ in range(batch):
            sample = SegDataSample(metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size))
            if kind == 'DepthEstimator':
                sample.gt_depth_map = PixelData(data=torch.rand(1, *size) * 4 + 0.5)
            else:
                sample.gt_sem_seg = PixelData(data=torch.randint(0, model.decode_head.num_classes, (1, *size)))
            samples.append(sample)
        return dict(inputs=[torch.rand(3, *size) * 255 for _ in range(batch)], data_samples=samples)
    if kind == 'Recognizer3D':
        from mmaction.structures import ActionDataSample
        classes = model.cls_head.num_classes
        if getattr(model.cls_head, 'multi_class', False):  # multi-label: multi-hot targets
            labels = [torch.nn.functional.one_hot(torch.tensor(i % classes), classes).float() for i in range(batch)]
        else:
            labels = [i % classes for i in range(batch)]
        return dict(inputs=[torch.randint(0, 256, (1, 3, 16 if big else 4, size, size), dtype=torch.uint8)
                            for _ in range(batch)],
                    data_samples=[ActionDataSample().set_gt_label(label) for label in labels])
    if kind == 'ImageClassifier':
        from mmpretrain.structures import DataSample
        classes = model.head.num_classes
        return dict(inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(batch)],
                    data_samples=[DataSample().set_gt_label(i % classes) for i in range(batch)])
    raise AssertionError(f'{kind}: no batch builder; add one so this model is covered on the GPU')


def train_step(path, device, dtype=None):
    """One forward/backward through the config's data preprocessor; returns the model and its losses."""
    torch.manual_seed(0)
    cfg, model, scope = build_model(path, device)
    with DefaultScope.overwrite_default_scope(scope):
        data = model.data_preprocessor(raw_batch(cfg, model), True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            losses = model(**data, mode='loss')
    parsed, _ = model.parse_losses(losses)
    parsed.backward()
    return model, losses, parsed


def assert_trained(model, parsed):
    assert torch.isfinite(parsed), parsed
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize('path', TINY_CONFIGS)
def test_batch_builder_trains_tiny_configs_on_cpu(path):
    model, _, parsed = train_step(path, torch.device('cpu'))
    assert_trained(model, parsed)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize('path', CONFIGS)
def test_every_config_model_forward_backward_on_cuda(path):
    model, losses, parsed = train_step(path, torch.device('cuda'))
    assert all(p.is_cuda for p in model.parameters())
    assert_trained(model, parsed)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize('path', ['configs/m33d/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py',
                                  'configs/m33d/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd.py'])
def test_bf16_autocast_matches_fp32_on_cuda(path):
    _, _, fp32 = train_step(path, torch.device('cuda'))
    model, _, bf16 = train_step(path, torch.device('cuda'), torch.bfloat16)
    assert_trained(model, bf16)
    assert abs(bf16.item() - fp32.item()) < 0.05 * abs(fp32.item()), (bf16.item(), fp32.item())


@pytest.mark.gpu
@needs_cuda
def test_fp16_amp_optim_wrapper_scales_the_loss_and_steps():
    from mmengine.optim import AmpOptimWrapper
    cfg, model, scope = build_model('configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py',
                                    torch.device('cuda'))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    wrapper = AmpOptimWrapper(optimizer=optimizer, loss_scale='dynamic', dtype='float16')
    before = [p.detach().clone() for p in model.parameters()]
    with DefaultScope.overwrite_default_scope(scope):
        for _ in range(3):
            data = model.data_preprocessor(raw_batch(cfg, model), True)
            with wrapper.optim_context(model):
                losses = model(**data, mode='loss')
                assert any(v.dtype == torch.float16 for v in losses.values()) or all(
                    torch.isfinite(v) for v in losses.values())
            parsed, _ = model.parse_losses(losses)
            wrapper.update_params(parsed)
    scale = wrapper.loss_scaler.get_scale()
    assert scale > 1.0, 'dynamic loss scaling should keep a large scale for a well-behaved loss'
    assert all(p.dtype == torch.float32 for p in model.parameters()), 'master weights stay fp32'
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert torch.isfinite(parsed)


@pytest.mark.gpu
@needs_cuda
def test_fp16_linear_runs_in_half_under_amp():
    from mmengine.optim import AmpOptimWrapper
    layer = torch.nn.Linear(64, 64).cuda()
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(layer.parameters(), lr=0.1), dtype='float16')
    with wrapper.optim_context(layer):
        out = layer(torch.randn(8, 64, device='cuda'))
    assert out.dtype == torch.float16


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_encoder_attention_dispatches_to_a_fused_sdpa_kernel(dtype):
    """The project's transformer layers reach a fused SDPA kernel (flash or memory-efficient), not the math one."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from m33d_mm.models import RGBDViT
    model = RGBDViT(arch='base', mask_ratio=0.8).cuda().train()
    x = dict(rgb=torch.randn(4, 3, 224, 224, device='cuda'), depth=torch.randn(4, 1, 224, 224, device='cuda'))
    # only the fused kernels allowed: if the layers fell back to the math kernel, this would raise
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]):
        with torch.autocast('cuda', dtype=dtype):
            latent = model.forward_mim(x).latent
            loss = sum(v.float().pow(2).mean() for v in latent.values())
        loss.backward()
    assert torch.isfinite(loss)
    # and the profiler names the fused kernel in the default dispatch
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        with torch.autocast('cuda', dtype=dtype):
            model.forward_mim(x)
        torch.cuda.synchronize()
    names = ' '.join(e.name.lower() for e in prof.key_averages())
    assert any(k in names for k in ('flash', 'efficient_attention', 'fmha', 'cudnn')), names[:2000]


@pytest.mark.gpu
@needs_cuda
def test_pretrain_step_compiles_and_matches_eager_on_cuda():
    """torch.compile of the M3D step (what the ``compile`` config key does) gives the eager loss."""
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='M33D',
        backbone=dict(type='RGBDViT', arch=dict(embed_dims=384, num_layers=2, num_heads=6, feedforward_channels=1536),
                      patch_size=16, mask_ratio=dict(rgb=0.8, depth=0.8)),
        neck=dict(type='RGBDMAEDecoder', in_channels=384, embed_dims=128, num_layers=1, num_heads=4),
        head=dict(type='RGBDReconstructionHead', patch_size=16))).cuda()
    inputs = dict(rgb=torch.randn(4, 3, 224, 224, device='cuda'), depth=torch.randn(4, 1, 224, 224, device='cuda'),
                  valid=dict(depth=torch.ones(4, 1, 224, 224, dtype=torch.bool, device='cuda')))
    compiled = torch.compile(model.loss)
    torch.manual_seed(1)
    eager = sum(model.loss(inputs).values())
    torch.manual_seed(1)
    with torch._inductor.config.patch(fallback_random=True):  # the same random masks as eager
        graph = sum(compiled(inputs).values())
    assert torch.allclose(eager, graph, rtol=1e-3, atol=1e-4), (eager.item(), graph.item())
