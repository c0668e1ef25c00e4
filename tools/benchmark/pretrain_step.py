"""Pre-training step throughput: M3D next to mmpretrain's MAE (images) and VideoMAE-sized clips (video).

One full training step (forward, backward, AdamW update) of each model is timed, the models interleaved in
one process so that both see the same machine state. FLOPs per step are counted once with
``torch.utils.flop_counter``; achieved FLOP/s = FLOPs / median step time. The matmul peak of this machine
(square ``--peak-size`` matmuls, fp32 and bf16) is measured in the same run, so "fraction of peak" needs no
outside number. Prints a table and writes JSON.

    python tools/benchmark/pretrain_step.py --out work_dirs/benchmarks/pretrain_step.json
    python tools/benchmark/pretrain_step.py --video --batch 2     # 16 x 224^2 clips, 90 % tube masks
    python tools/benchmark/pretrain_step.py --bf16                # under bf16 autocast as well
    python tools/benchmark/pretrain_step.py --device cuda --bf16 --compile --batch 64   # on a GPU

On a GPU the same script times CUDA steps (synchronised), counts the same FLOPs, measures the device's matmul
peak the same way and also reports MFU against ``--nominal-tflops`` (the datasheet dense bf16 figure, 989 for
an H100 SXM) when given. Attention runs through PyTorch's ``scaled_dot_product_attention`` (flash / memory-
efficient kernels on GPUs) in both M3D and mmpretrain's MAE.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import time

import m33d_mm  # noqa: F401
import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

import m33d_mm.models  # noqa: F401
from mmpretrain.registry import MODELS

DEVICE = torch.device('cpu')
# the encoder of every model: ViT-B/16, or a toy one (--encoder toy) for a quick run of the script itself
ENCODERS = dict(base=dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
                toy=dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=256))
ENCODER = ENCODERS['base']


def on_device(model, inputs):
    """Move a model and its (dict of) input tensors to the benchmark device."""
    model.to(DEVICE)
    if isinstance(inputs, dict):
        return {k: on_device_tensors(v) for k, v in inputs.items()}
    return inputs.to(DEVICE)


def on_device_tensors(value):
    """A tensor, or a dict of them (the valid-pixel masks), on the benchmark device."""
    if isinstance(value, dict):
        return {k: v.to(DEVICE) for k, v in value.items()}
    return value.to(DEVICE)


def m33d_image(batch, size, with_cp=False, neck=None):
    model = MODELS.build(dict(
        type='M33D',
        backbone=dict(type='RGBDViT', arch=ENCODER, patch_size=16, mask_ratio=dict(rgb=0.8, depth=0.8),
                      with_cp=with_cp),
        neck=dict(type='RGBDMAEDecoder', patch_size=16, in_channels=ENCODER['embed_dims'], embed_dims=256, num_layers=2,
                  num_heads=8, with_cp=with_cp, **(neck or {})),
        head=dict(type='RGBDReconstructionHead', patch_size=16),
        loss_weights=dict(rgb=1., depth=1.)))
    inputs = dict(rgb=torch.randn(batch, 3, size, size), depth=torch.randn(batch, 1, size, size),
                  valid=dict(depth=torch.rand(batch, 1, size, size) > 0.05))
    inputs = on_device(model, inputs)
    return model, lambda: model.loss(inputs)


def m33d_video(batch, size, frames, with_cp=False, neck=None):
    model = MODELS.build(dict(
        type='M33D',
        backbone=dict(type='RGBDViT', arch=ENCODER, patch_size=16, tubelet_size=2, mask_ratio=0.9,
                      with_cp=with_cp),
        neck=dict(type='RGBDMAEDecoder', patch_size=16, tubelet_size=2, in_channels=ENCODER['embed_dims'],
                  embed_dims=384,
                  num_layers=4, num_heads=6, with_cp=with_cp, **(neck or {})),
        head=dict(type='RGBDReconstructionHead', patch_size=16, tubelet_size=2,
                  losses=dict(rgb=dict(type='RGBReconstructionLoss'),
                              depth=dict(type='DepthReconstructionLoss', mode='mse'))),
        contrastive_loss=dict(type='PatchInfoNCELoss'),
        matching_head=dict(type='RGBDMatchingHead', in_channels=ENCODER['embed_dims']),
        loss_weights=dict(rgb=1., depth=1., contrastive=1., matching=1.),
        cross_modal_tokens='shared_visible'))
    shape = (batch, 3, frames, size, size)
    inputs = dict(rgb=torch.randn(shape), depth=torch.randn(batch, 1, frames, size, size),
                  valid=dict(depth=torch.ones(batch, 1, frames, size, size, dtype=torch.bool)))
    inputs = on_device(model, inputs)
    return model, lambda: model.loss(inputs)


def mae_image(batch, size):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.utils import get_installed_path
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(os.path.join(get_installed_path('mmpretrain'), '.mim/configs/_base_/models/mae_vit-base-p16.py'))
    cfg.model.backbone.img_size = size
    cfg.model.backbone.arch = ENCODER
    cfg.model.neck.embed_dim = ENCODER['embed_dims']
    cfg.model.neck.num_patches = (size // 16)**2
    model = MODELS.build(cfg.model)
    inputs = on_device(model, torch.randn(batch, 3, size, size))
    return model, lambda: model.loss(inputs, [])


def videomae_video(batch, size, frames):
    """mmaction2's VideoMAE ViT-B backbone on the visible 10 % of tokens, plus a 4-block decoder.

    mmaction2 ships VideoMAE as a fine-tuning backbone only; this is its encoder (same layers as VideoMAE
    pre-training) on the tokens a 90 % tube mask leaves, followed by the M3D decoder width/depth, so the
    comparison isolates M3D's multi-modal bookkeeping.
    """
    import mmaction.models  # noqa: F401
    from mmaction.registry import MODELS as ACTION_MODELS
    from m33d_mm.models import RGBDMAEDecoder, RGBDReconstructionHead
    from m33d_mm.models.utils import MaskedEncoding, keep_ids_to_mask

    from mmengine.registry import DefaultScope
    dims = ENCODER['embed_dims']
    with DefaultScope.overwrite_default_scope('mmaction'):  # mmaction2's VisionTransformer, not mmpretrain's
        encoder = ACTION_MODELS.build(dict(type='VisionTransformer', img_size=size, patch_size=16, embed_dims=dims,
                                           depth=ENCODER['num_layers'], num_heads=ENCODER['num_heads'],
                                           mlp_ratio=ENCODER['feedforward_channels'] / dims, qkv_bias=True,
                                           num_frames=frames, norm_cfg=dict(type='LN', eps=1e-6)))
    decoder = RGBDMAEDecoder(modalities=dict(rgb=3), patch_size=16, tubelet_size=2, in_channels=dims,
                             embed_dims=384, num_layers=4, num_heads=6)
    head = RGBDReconstructionHead(patch_size=16, tubelet_size=2, losses=dict(rgb=dict(type='RGBReconstructionLoss')))
    model = torch.nn.ModuleDict(dict(encoder=encoder, decoder=decoder, head=head))
    clip = torch.randn(batch, 3, frames, size, size)
    grid = (frames // 2, size // 16, size // 16)
    num = grid[0] * grid[1] * grid[2]
    keep = torch.stack([torch.randperm(num)[:num // 10].sort().values for _ in range(batch)])
    clip, keep = on_device(model, dict(clip=clip, keep=keep)).values()

    def step():
        tokens = encoder.patch_embed(clip)[0] + encoder.pos_embed.to(clip.dtype)
        tokens = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, dims))
        for block in encoder.blocks:
            tokens = block(tokens)
        tokens = encoder.fc_norm(tokens)
        enc = MaskedEncoding(latent=dict(rgb=tokens), ids_keep=dict(rgb=keep),
                             mask=dict(rgb=keep_ids_to_mask(keep, num)), grid=grid)
        return head.loss(decoder(enc), dict(rgb=clip), enc)

    return model, step


def synchronize():
    if DEVICE.type == 'cuda':
        torch.cuda.synchronize()


def measure_peak(size, dtype, repeats=5):
    a = torch.randn(size, size, dtype=dtype, device=DEVICE)
    b = torch.randn(size, size, dtype=dtype, device=DEVICE)
    a @ b
    times = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        a @ b
        synchronize()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times)


def _cpu_attention_flops(query, key, value, *args, out_shape=None, **kwargs):
    return flop_counter.sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs):
    return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)


# torch's FLOP counter knows the CUDA attention kernels but not the CPU one that scaled_dot_product_attention
# dispatches to, which it would count as zero; count it with the same formula as the CUDA kernels
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops,
}


class Runner:
    """One model's training step, its FLOP count and its timings."""

    def __init__(self, name, model, loss_fn, reference, bf16=False, compile=False, fused_adamw=True,
                 compile_backend='inductor'):
        self.name, self.model, self.loss_fn, self.bf16 = name, model, loss_fn, bf16
        self.compiled = torch.compile(loss_fn, backend=compile_backend) if compile else loss_fn
        self.peak_memory_mb = None
        self.reference = reference
        model.train()
        # fused AdamW for every model by default, as the pre-training configs set it
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused_adamw)
        self.times = []
        self.flops = None

    def step(self, fn=None):
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=self.bf16):
            losses = (fn or self.compiled)()
            loss = sum(v for v in losses.values()) if isinstance(losses, dict) else losses
        loss.backward()
        self.optimizer.step()

    def count_flops(self):
        counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
        with counter:
            self.step(self.loss_fn)  # eager: the counter sees every operation
        self.flops = counter.get_total_flops()

    def timed_step(self):
        if DEVICE.type == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        synchronize()
        start = time.perf_counter()
        self.step()
        synchronize()
        self.times.append(time.perf_counter() - start)
        if DEVICE.type == 'cuda':
            self.peak_memory_mb = max(self.peak_memory_mb or 0, torch.cuda.max_memory_allocated() / 2**20)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--video', action='store_true', help='video step (16 x size^2, 90 %% tube masks)')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--steps', type=int, default=5, help='timed steps per model (after one warm-up)')
    parser.add_argument('--bf16', action='store_true', help='also time every model under bf16 autocast')
    parser.add_argument('--precision', choices=['fp32', 'bf16', 'both'],
                        help='fp32, bf16 autocast or both (default: fp32, or both with --bf16)')
    parser.add_argument('--with-cp', action='store_true', help='activation checkpointing in the M3D model')
    parser.add_argument('--peak-size', type=int, default=2048)
    parser.add_argument('--separate-modalities', action='store_true',
                        help="also time M3D with a decoder that decodes each modality as its own sequence "
                        "(an option, not the method's default)")
    parser.add_argument('--models', choices=['both', 'm3d'], default='both',
                        help='M3D next to its reference (both), or M3D alone')
    parser.add_argument('--encoder', choices=sorted(ENCODERS), default='base',
                        help='ViT-B/16 encoders (base), or toy ones to try the script quickly')
    parser.add_argument('--adamw', choices=['fused', 'foreach'], default='fused',
                        help='AdamW implementation for every model (the configs use fused)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--compile', action='store_true', help='torch.compile each step function')
    parser.add_argument('--compile-backend', default='inductor',
                        help="torch.compile backend ('eager' traces the graphs without generating code)")
    parser.add_argument('--nominal-tflops', type=float,
                        help='datasheet dense bf16 TFLOP/s of the device, for MFU (e.g. 989 for an H100 SXM)')
    parser.add_argument('--out', default='work_dirs/benchmarks/pretrain_step.json')
    args = parser.parse_args(argv)
    args.precision = args.precision or ('both' if args.bf16 else 'fp32')
    return args


def main(argv=None):
    """Run the benchmark; returns the result that is also written to ``--out``."""
    args = parse_args(argv)
    global DEVICE, ENCODER
    DEVICE = torch.device(args.device)
    ENCODER = ENCODERS[args.encoder]
    if DEVICE.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device is visible to PyTorch')
    torch.manual_seed(0)

    if args.video:
        def m33d(neck=None):
            return m33d_video(args.batch, args.size, args.frames, args.with_cp, neck)
        builders = [('M3D video (RGB-D, eq. 5)', m33d),
                    ('VideoMAE ViT-B (mmaction2 encoder, RGB)', lambda: videomae_video(args.batch, args.size,
                                                                                        args.frames))]
    else:
        def m33d(neck=None):
            return m33d_image(args.batch, args.size, args.with_cp, neck)
        builders = [('M3D image (RGB-D, eq. 7)', m33d),
                    ('mmpretrain MAE ViT-B (RGB)', lambda: mae_image(args.batch, args.size))]
    if args.separate_modalities:
        builders.insert(1, (builders[0][0] + ', per-modality decoder',
                            lambda: m33d(dict(separate_modalities=True))))
    runners = []
    if args.models == 'm3d':
        builders = builders[:1]
    for index, (name, build) in enumerate(builders):
        model, loss_fn = build()
        reference = index == len(builders) - 1 and args.models == 'both'
        common = dict(reference=reference, compile=args.compile, fused_adamw=args.adamw == 'fused',
                      compile_backend=args.compile_backend)
        if args.precision in ('fp32', 'both'):
            runners.append(Runner(name, model, loss_fn, **common))
        if args.precision in ('bf16', 'both'):
            runners.append(Runner(name + ' bf16', model, loss_fn, bf16=True, **common))
    from torch._dynamo.utils import counters
    for runner in runners:
        runner.count_flops()
        breaks = sum(counters['graph_break'].values())
        start = time.perf_counter()
        runner.step()  # warm-up (and compilation)
        synchronize()
        runner.first_step_s = time.perf_counter() - start
        # graph breaks split a compiled step into several graphs with eager code between them
        runner.graph_breaks = sum(counters['graph_break'].values()) - breaks if args.compile else None
    peak = dict(fp32=measure_peak(args.peak_size, torch.float32), bf16=measure_peak(args.peak_size, torch.bfloat16))
    for _ in range(args.steps):  # interleaved, so drifts in machine load hit every model alike
        for runner in runners:
            runner.timed_step()
    peak_after = dict(fp32=measure_peak(args.peak_size, torch.float32),
                      bf16=measure_peak(args.peak_size, torch.bfloat16))
    peak = {k: max(peak[k], peak_after[k]) for k in peak}

    rows = []
    for runner in runners:
        median = statistics.median(runner.times)
        achieved = runner.flops / median
        ref_peak = peak['bf16' if runner.bf16 else 'fp32']
        rows.append(dict(model=runner.name, precision='bf16' if runner.bf16 else 'fp32', reference=runner.reference,
                         gflop_per_step=runner.flops / 1e9, step_s=median, step_s_all=runner.times,
                         gflops=achieved / 1e9, fraction_of_peak=achieved / ref_peak,
                         peak_memory_mb=runner.peak_memory_mb, first_step_s=runner.first_step_s,
                         graph_breaks=runner.graph_breaks,
                         mfu=achieved / (args.nominal_tflops * 1e12) if args.nominal_tflops else None))
    reference = {row['precision']: row['gflops'] for row in rows if row['reference']}
    for row in rows:
        row['ratio_to_reference'] = row['gflops'] / reference[row['precision']] if reference else None
    device_name = torch.cuda.get_device_name(DEVICE) if DEVICE.type == 'cuda' else platform.processor()
    result = dict(machine=dict(platform=platform.platform(), device=device_name,
                               threads=torch.get_num_threads(), torch=torch.__version__),
                  process_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  args=vars(args), matmul_peak_gflops={k: v / 1e9 for k, v in peak.items()}, rows=rows)

    print(f'matmul peak ({args.peak_size}^3, {torch.get_num_threads()} threads): '
          f'fp32 {peak["fp32"] / 1e9:.1f} GFLOP/s, bf16 {peak["bf16"] / 1e9:.1f} GFLOP/s')
    print(f'{"model":45s} {"GFLOP/step":>10s} {"step s":>8s} {"GFLOP/s":>8s} {"% peak":>7s} {"ratio":>6s}'
          + (f' {"MFU":>6s}' if args.nominal_tflops else '') + (' peak MB' if DEVICE.type == 'cuda' else ''))
    for row in rows:
        print(f'{row["model"]:45s} {row["gflop_per_step"]:10.1f} {row["step_s"]:8.3f} {row["gflops"]:8.1f} '
              f'{100 * row["fraction_of_peak"]:6.1f}% {row["ratio_to_reference"] or float("nan"):6.2f}'
              + (f' {100 * row["mfu"]:5.1f}%' if row['mfu'] is not None else '')
              + (f' {row["peak_memory_mb"]:7.0f}' if row['peak_memory_mb'] is not None else ''))
    if DEVICE.type == 'cpu':
        print(f'process peak RSS (all models together): {result["process_peak_rss_mb"]:.0f} MB')
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'written {args.out}')
    return result


if __name__ == '__main__':
    main()
