"""Convert the RGB video encoder of an M3D checkpoint to mmaction2's stock (VideoMAE) ``VisionTransformer``.

Sources: an M3D video pre-training run (its work directory: the last checkpoint is loaded, trusted) or weights
file (loaded with ``weights_only=True``), or a recognizer fine-tuned in mmaction2 with ``RGBDViT`` and
``TimeSformerHead`` (the recipes' model). The depth tubelet embedding, modality-specific layers and the decoder
are dropped.

What the stock model computes and how the weights map:

* attention: ``qkv`` weight as is; the q and v thirds of the qkv bias become ``q_bias`` / ``v_bias``. The k bias
  is dropped -- adding one vector to every key shifts all logits of a query by the same amount, which the
  softmax ignores -- so the features stay the same.
* position: M3D's fixed space-time sine-cosine table for ``--num-frames`` x ``--img-size``\\ ² becomes a
  learnable ``pos_embed`` (build the stock model with ``use_learnable_pos_emb=True``; its own buffer is a 1-D
  sinusoid over the token index, which M3D never saw). Stock models resize it for other spatial sizes only
  approximately (bicubic) and not at all in time: convert at the clip size you fine-tune and test at.
* pooling: the stock model with ``use_mean_pooling=True`` averages the tokens and applies ``fc_norm``, as
  ``RGBDViT(final_norm=False, out_type='avg_featmap')`` does with its ``ln2``, which becomes ``backbone.fc_norm``;
  a fine-tuned head's ``fc_cls`` stays ``cls_head.fc_cls`` of the same ``TimeSformerHead``. A pre-training
  checkpoint has no ``ln2``: ``fc_norm`` starts as an identity LayerNorm (ones, zeros), as fine-tuning starts it
  (VideoMAE's recipe; the encoder's per-token final norm from pre-training is used by neither). Recognizers
  fine-tuned with the former ``MeanPoolNormHead`` convert too: its ``fc_norm`` is the pooled-feature norm.

    python tools/model_converters/m33d_to_mmaction_vit.py work_dirs/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd \\
        checkpoints/m33d_vit-base_mmaction.pth --num-frames 16 --img-size 224

A pre-training source gives backbone keys (load with the backbone's
``init_cfg=dict(type='Pretrained', checkpoint=OUT)``; mmaction2 1.2.0's ``pretrained=`` argument is overwritten
by the default ``init_cfg`` and has no effect; ``--prefix backbone.`` for ``load_from``). A fine-tuned source
gives a whole ``Recognizer3D`` state dict (``backbone.`` and ``cls_head.`` keys) for ``load_from``. The stock
settings are printed and stored under ``meta``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # tools/ is not a package; runs from any directory
from stock_vit_args import run  # noqa: E402  (argparse only until the arguments are parsed)


def main(argv=None) -> int:
    return run('mmaction', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
