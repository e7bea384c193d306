"""Milliseconds per training step of the full-catalogue CE output layer (forward and backward):
autograd's `F.cross_entropy(output @ table.t(), targets)` against `full_cross_entropy`, which
builds the gradient a cache-sized chunk of rows at a time. The default shapes are ml-100k's (a
batch of 2,048 targets, 1,683 item ids, 64 dimensions).

    python benchmarks/full_softmax.py --num_threads=1 [--rows=2048 --items=1683 --dim=64 --repeats=30]
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from gru4recf.models.full_softmax import full_cross_entropy


def _autograd(output, table, targets):
    return F.cross_entropy(output @ table.t(), targets)


def _chunked(output, table, targets):
    return full_cross_entropy(output, table, None, targets)


def median_ms(loss_of, output, table, targets, repeats: int) -> float:
    """The median wall milliseconds of one forward and backward, after two warm-up steps."""
    times = []
    for step in range(repeats + 2):
        output.grad = table.grad = None
        begin = time.perf_counter()
        loss_of(output, table, targets).backward()
        if step >= 2:
            times.append(1000 * (time.perf_counter() - begin))
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--items", type=int, default=1683)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--num_threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    generator = torch.Generator().manual_seed(0)
    output = torch.randn(args.rows, args.dim, generator=generator).requires_grad_()
    table = (0.1 * torch.randn(args.items, args.dim, generator=generator)).requires_grad_()
    targets = torch.randint(0, args.items, (args.rows,), generator=generator)
    print(f"{args.rows} targets x {args.items} items x {args.dim} dims, {torch.get_num_threads()} threads")
    for name, loss_of in (("F.cross_entropy", _autograd), ("full_cross_entropy", _chunked)):
        print(f"{name:<20} {median_ms(loss_of, output, table, targets, args.repeats):7.1f} ms per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
