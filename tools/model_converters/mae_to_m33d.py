"""Convert ImageNet MAE (official release or mmpretrain) or VideoMAE weights into an M3D encoder checkpoint.

The output holds ``backbone.*`` tensors for :class:`m33d_mm.models.RGBDViT` with an RGB and a depth patch
embedding (the depth one initialised from the RGB kernel averaged over its channels) and loads with
``model.backbone.pretrained=OUT``. Converting is optional -- ``pretrained`` also accepts the original file --
but a converted file loads faster and shows what will be used.

    python tools/model_converters/mae_to_m33d.py mae_pretrain_vit_base.pth checkpoints/m33d_init_vit-base.pth
"""
import argparse
import os
import os.path as osp


def convert(src: str, modalities: dict, shared_encoder: bool = True) -> dict:
    # The stack is imported here, not at the top, so that `--help` answers at once.
    import m33d_mm  # noqa: F401
    from m33d_mm.models import RGBDViT
    from m33d_mm.models.checkpoint import (extract_state_dict, fit_to_backbone, infer_rgbd_vit_config,
                                           load_weights_file, to_rgbd_vit_keys, unused_keys)
    source, fmt = to_rgbd_vit_keys(extract_state_dict(load_weights_file(src)))
    backbone = RGBDViT(modalities=modalities, shared_encoder=shared_encoder, **infer_rgbd_vit_config(source))
    fitted = fit_to_backbone(backbone, source, src)
    backbone.load_state_dict(fitted)
    return dict(state_dict={f'backbone.{k}': v for k, v in fitted.items()},
                meta=dict(source=osp.basename(src), source_format=fmt, pos_embed_layout=backbone.pos_embed_layout,
                          unused=unused_keys(source, fitted)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='MAE / VideoMAE / mmpretrain checkpoint')
    parser.add_argument('dst', help='output .pth (missing folders are created)')
    parser.add_argument('--depth-channels', type=int, default=1)
    parser.add_argument('--modality-specific', action='store_true',
                        help='also write separate depth encoder layers (copies of the RGB ones)')
    args = parser.parse_args()
    out = convert(args.src, dict(rgb=3, depth=args.depth_channels), shared_encoder=not args.modality_specific)
    import torch
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(out, args.dst)
    print(f'{args.src} ({out["meta"]["source_format"]} format, "{out["meta"]["pos_embed_layout"]}" position '
          f'table) -> {args.dst}: {len(out["state_dict"])} tensors; '
          f'not used: {out["meta"]["unused"] or "none"}')


if __name__ == '__main__':
    main()
