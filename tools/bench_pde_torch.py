#!/usr/bin/python3
"""PyTorch (CPU, float64) reference timings for the PDE-operator benchmark (benchmarks: `pde` mode).

Workload (Dangel et al. 2025): tanh MLP D -> 768 -> 768 -> 512 -> 512 -> 1, N points.
  forward_laplacian_ms   exact Laplacian by a forward Laplacian written with plain torch ops
                         (value, D first-order directions, one collapsed second-order coefficient)
  nested_laplacian_ms    exact Laplacian by nested backprop: gradient, then D Hessian-vector products
                         (double backward, one per unit direction), graph of the gradient kept
Median of --repeats runs after --warmup. Threads: the caller pins OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before
this process starts (Debian's torch uses the pthreads OpenBLAS, which reads it at load); this script also calls
torch.set_num_threads. Output: one JSON object on stdout.
Usage: /usr/bin/python3 tools/bench_pde_torch.py --threads T [--dim 50] [--points 256] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dim", type=int, default=50)
    ap.add_argument("--points", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        print(f"bench_pde_torch: OPENBLAS_NUM_THREADS is {os.environ.get('OPENBLAS_NUM_THREADS')!r}, expected {args.threads}",
              file=sys.stderr)
    import torch
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    d, n = args.dim, args.points
    widths = [d, 768, 768, 512, 512, 1]
    layers = [torch.nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]

    def forward_laplacian(x):
        # z: [N, h] value, j: [D, N, h] first-order coefficients along e_i, c: [N, h] collapsed Laplacian.
        z = x
        j = torch.eye(d).unsqueeze(1).expand(d, n, d)
        c = torch.zeros(n, d)
        for k, lin in enumerate(layers):
            z = lin(z)
            j = j @ lin.weight.T
            c = c @ lin.weight.T
            if k < len(layers) - 1:
                t = torch.tanh(z)
                d1 = 1 - t * t
                d2 = -2 * t * d1
                c = d1 * c + d2 * (j * j).sum(0)
                j = d1 * j
                z = t
        return c.reshape(n)

    def nested_laplacian(x):
        x = x.detach().requires_grad_(True)
        u = x
        for k, lin in enumerate(layers):
            u = lin(u)
            if k < len(layers) - 1:
                u = torch.tanh(u)
        g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
        lap = torch.zeros(n)
        for i in range(d):
            lap = lap + torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i]
        return lap

    x = torch.rand(n, d) * 2 - 1
    with torch.no_grad():
        ref = forward_laplacian(x)
    err = (nested_laplacian(x) - ref).abs().max().item() / ref.abs().max().item()

    def timeit(fn):
        for _ in range(args.warmup):
            fn()
        ts = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(1000 * (time.perf_counter() - t0))
        return statistics.median(ts)

    def fl():
        with torch.no_grad():
            forward_laplacian(x)

    a = torch.rand(1024, 1024)
    b = torch.rand(1024, 1024)
    gemm_ms = timeit(lambda: a @ b)
    out = {
        "torch_version": torch.__version__, "threads": args.threads, "dim": d, "points": n,
        "forward_laplacian_ms": timeit(fl),
        "nested_laplacian_ms": timeit(lambda: nested_laplacian(x)),
        "modes_relative_difference": err,
        "dgemm_gflops": 2 * 1024 ** 3 / gemm_ms / 1e6,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
