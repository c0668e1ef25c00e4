"""Speed levers of the pre-training step (CPU-checkable): one compiled graph, per-modality decoding."""
import torch
from mmpretrain.registry import MODELS

import m33d_mm.models  # noqa: F401  (registers the models)

from conftest import TINY_ARCH


def tiny_m33d(**neck):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='M33D',
        backbone=dict(type='RGBDViT', arch=TINY_ARCH, patch_size=8, mask_ratio=dict(rgb=0.75, depth=0.75)),
        neck=dict(type='RGBDMAEDecoder', patch_size=8, in_channels=32, embed_dims=32, num_layers=1, num_heads=2,
                  **neck),
        head=dict(type='RGBDReconstructionHead', patch_size=8)))
    model.init_weights()
    inputs = dict(rgb=torch.randn(2, 3, 32, 32), depth=torch.randn(2, 1, 32, 32),
                  valid=dict(depth=torch.rand(2, 1, 32, 32) > 0.1))
    return model, inputs


def test_m33d_loss_compiles_to_one_graph():
    model, inputs = tiny_m33d()
    explanation = torch._dynamo.explain(model.loss)(inputs)
    reasons = [b.reason for b in explanation.break_reasons]
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1, reasons


def test_compiled_step_follows_a_loaded_position_layout():
    """The layout read outside the graph follows load_state_dict, so compiled and eager steps agree."""
    model, inputs = tiny_m33d()
    state = model.state_dict()
    state['backbone.pos_layout_code'] = torch.tensor(1)  # 'wh'
    model.load_state_dict(state)
    assert model.backbone.pos_embed_layout == 'wh'
    compiled = torch.compile(model.backbone.forward_mim, backend='eager')
    torch.manual_seed(3)
    eager = model.backbone.forward_mim(inputs)
    torch.manual_seed(3)
    graph = compiled(inputs)
    for name in eager.latent:
        torch.testing.assert_close(graph.latent[name], eager.latent[name])


def test_masked_mean_without_any_masked_element_is_a_connected_zero():
    from m33d_mm.models.losses import RGBReconstructionLoss
    pred = torch.randn(2, 4, 6, requires_grad=True)
    loss = RGBReconstructionLoss()(pred, torch.randn(2, 4, 6), torch.zeros(2, 4))
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None and pred.grad.abs().sum() == 0
    mask = torch.tensor([[1., 0., 0., 1.], [0., 0., 1., 0.]])
    target = torch.randn(2, 4, 6)
    value = RGBReconstructionLoss()(pred, target, mask)
    expected = ((pred - target).pow(2).mean(-1) * mask).sum() / 3
    torch.testing.assert_close(value, expected)


def test_separate_modalities_decodes_each_modality_on_its_own():
    model, inputs = tiny_m33d(separate_modalities=True)
    torch.manual_seed(5)
    encoding = model.backbone.forward_mim(inputs)
    preds = model.neck(encoding)
    for name in ('rgb', 'depth'):
        alone = encoding._replace(latent={name: encoding.latent[name]})
        torch.testing.assert_close(preds[name], model.neck(alone)[name])
    # the default (the method's joint decoder) lets the modalities attend to each other
    model.neck.separate_modalities = False
    joint = model.neck(encoding)
    assert not torch.allclose(joint['rgb'], preds['rgb'])
    assert MODELS.build(dict(type='RGBDMAEDecoder')).separate_modalities is False
