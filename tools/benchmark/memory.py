"""Peak memory and step time of the M3D ViT-B image step with and without activation checkpointing.

Each setting runs in its own process (peak RSS is per process and never goes down). Memory is reported as
the peak resident set size during training steps minus the resident size once the model, its gradients and
AdamW's state exist (allocated before any forward pass), i.e. what the step itself needs (activations and
temporaries), and as the total peak. Activations grow with the batch; at small batches the weights and
optimizer state dominate the peak whatever checkpointing does.

    python tools/benchmark/memory.py --out work_dirs/benchmarks/memory.json
"""
import argparse
import json
import os
import resource
import subprocess
import sys


def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def child(with_cp, batch, size, steps):
    import m33d_mm  # noqa: F401
    import torch
    sys.path.insert(0, os.path.dirname(__file__))
    from pretrain_step import Runner, m33d_image

    torch.manual_seed(0)
    model, loss_fn = m33d_image(batch, size, with_cp=with_cp)
    runner = Runner('m33d', model, loss_fn, reference=False)
    for param in model.parameters():  # gradients and AdamW state, allocated before any activation exists
        param.grad = torch.zeros_like(param)
    runner.optimizer.step()
    base = rss_mb()
    for _ in range(steps):
        runner.timed_step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(with_cp=with_cp, base_mb=base, peak_mb=peak, step_mb=peak - base,
                          step_s=sorted(runner.times)[len(runner.times) // 2])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--out', default='work_dirs/benchmarks/memory.json')
    parser.add_argument('--child', choices=['plain', 'cp'])
    args = parser.parse_args()
    if args.child:
        child(args.child == 'cp', args.batch, args.size, args.steps)
        return
    rows = []
    for mode in ('plain', 'cp'):
        out = subprocess.run([sys.executable, __file__, '--child', mode, '--batch', str(args.batch), '--size',
                              str(args.size), '--steps', str(args.steps)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    plain, cp = rows
    result = dict(args=vars(args), rows=rows, step_memory_cut=1 - cp['step_mb'] / plain['step_mb'],
                  peak_memory_cut=1 - cp['peak_mb'] / plain['peak_mb'], extra_time=cp['step_s'] / plain['step_s'] - 1)
    for row in rows:
        print(f'with_cp={row["with_cp"]!s:5s}  peak RSS {row["peak_mb"]:7.0f} MB  step memory {row["step_mb"]:6.0f} MB  '
              f'step {row["step_s"]:.2f} s')
    print(f'activation checkpointing: step memory -{100 * result["step_memory_cut"]:.0f} %, '
          f'peak RSS -{100 * result["peak_memory_cut"]:.0f} %, step time +{100 * result["extra_time"]:.0f} %')
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
