"""The M3D encoder under mmaction2's backbone contract."""
from ..models.backbones.rgbd_vit import RGBDViT


class ActionRGBDViT(RGBDViT):
    """:class:`~m33d_mm.models.RGBDViT` as mmaction2's recognisers expect a backbone: one feature tensor out.

    mmaction2's ``Recognizer3D`` hands the backbone output straight to the head, and its stock heads
    (``TimeSformerHead``, ``I3DHead``, ...) take one tensor; mmaction2's own ``VisionTransformer`` returns
    mean-pooled ``(B, C)`` features. So in mmaction2's registry ``type='RGBDViT'`` defaults to
    ``out_type='avg_featmap'`` and returns a single ``out_indices`` entry as a tensor instead of a 1-tuple.
    Arguments, weights and checkpoints are those of :class:`RGBDViT`; several ``out_indices`` still give a tuple.
    """

    def __init__(self, *, out_type: str = 'avg_featmap', **kwargs):
        super().__init__(out_type=out_type, **kwargs)

    def forward(self, x):
        outs = super().forward(x)
        return outs[0] if len(outs) == 1 else outs
