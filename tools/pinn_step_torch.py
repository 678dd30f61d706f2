#!/usr/bin/python3
"""PyTorch (CPU, float64) ENGD-Woodbury step on poisson5d: the peer of issue 11 (benchmarks: `pinn-step` mode).

A straightforward implementation: functorch (torch 1.13: `functorch.vmap/jacrev/hessian/make_functional`)
per-point Laplacians (trace of the input Hessian) and per-point residual Jacobians, the kernel K = J J^T,
a Cholesky solve of (K + damping I) alpha = r (damping 1e-10), the step J^T alpha and ENGD's grid line search
over eta in {0.5^k, k = 0..30} on the same batch.
Problem: -Delta u = pi^2 sum_i cos(pi x_i) on [0,1]^5, u = sum_i cos(pi x_i) on the boundary; net 5 -> 64 -> 64 ->
48 -> 48 -> 1 tanh (P = 10,065); 3,000 interior + 500 boundary points resampled each step; residuals scaled by
1/sqrt(N) of their set, loss 1/2 ||r||^2.
Threads: the caller pins OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before this process starts; this script also calls
torch.set_num_threads. Output: one JSON object on stdout: per-phase times of every step, and the minimum step time.
When torch is missing it prints one line to stderr and exits with status 3 (the benchmark skips the column).
Usage: /usr/bin/python3 tools/pinn_step_torch.py --threads T [--steps 3] [--interior 3000] [--boundary 500]
"""

import argparse
import json
import math
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--interior", type=int, default=3000)
    ap.add_argument("--boundary", type=int, default=500)
    ap.add_argument("--chunk", type=int, default=500, help="points per vmap chunk (bounds memory)")
    ap.add_argument("--damping", type=float, default=1e-10)
    args = ap.parse_args()
    try:
        import torch
        from functorch import hessian, jacrev, make_functional, vmap
    except ImportError as e:
        print(f"pinn_step_torch: skipped: PyTorch with functorch is not importable ({e})", file=sys.stderr)
        return 3
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        print(f"pinn_step_torch: OPENBLAS_NUM_THREADS is {os.environ.get('OPENBLAS_NUM_THREADS')!r}, expected {args.threads}",
              file=sys.stderr)
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    d = 5
    widths = [d, 64, 64, 48, 48, 1]
    mods = []
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        mods.append(torch.nn.Linear(a, b))
        if k < len(widths) - 2:
            mods.append(torch.nn.Tanh())
    fmodel, params = make_functional(torch.nn.Sequential(*mods))
    params = tuple(p.detach() for p in params)
    p_count = sum(p.numel() for p in params)

    def u(ps, x):
        return fmodel(ps, x.unsqueeze(0)).squeeze()

    def exact(x):
        return torch.cos(math.pi * x).sum(-1)

    def source(x):
        return math.pi ** 2 * torch.cos(math.pi * x).sum(-1)

    def interior_res(ps, x):
        return -torch.trace(hessian(u, argnums=1)(ps, x))

    def boundary_res(ps, x):
        return u(ps, x)

    def draw(n_i, n_b):
        xi = torch.rand(n_i, d)
        xb = torch.rand(n_b, d)
        face = torch.randint(0, d, (n_b,))
        side = torch.randint(0, 2, (n_b,)).to(torch.float64)
        xb[torch.arange(n_b), face] = side
        return xi, xb

    def chunked(fn, ps, x):
        return torch.cat([fn(ps, x[s:s + args.chunk]) for s in range(0, x.shape[0], args.chunk)])

    def flat_jac(fn, ps, x):
        def one(ps, xs):
            js = vmap(jacrev(fn), in_dims=(None, 0))(ps, xs)
            return torch.cat([j.reshape(xs.shape[0], -1) for j in js], dim=1)
        return torch.cat([one(ps, x[s:s + args.chunk]) for s in range(0, x.shape[0], args.chunk)])

    def residual(ps, xi, xb):
        ri = (chunked(lambda q, x: vmap(interior_res, in_dims=(None, 0))(q, x), ps, xi) - source(xi)) / math.sqrt(xi.shape[0])
        rb = (vmap(boundary_res, in_dims=(None, 0))(ps, xb) - exact(xb)) / math.sqrt(xb.shape[0])
        return torch.cat([ri, rb])

    def unflatten(vec):
        out, o = [], 0
        for p in params:
            out.append(vec[o:o + p.numel()].reshape(p.shape))
            o += p.numel()
        return tuple(out)

    steps = []
    for step in range(args.steps):
        xi, xb = draw(args.interior, args.boundary)
        t0 = time.perf_counter()
        r = residual(params, xi, xb)
        t1 = time.perf_counter()
        j = torch.cat([flat_jac(interior_res, params, xi) / math.sqrt(xi.shape[0]),
                       flat_jac(boundary_res, params, xb) / math.sqrt(xb.shape[0])])
        t2 = time.perf_counter()
        k = j @ j.T
        t3 = time.perf_counter()
        k.diagonal().add_(args.damping)
        chol = torch.linalg.cholesky(k)
        alpha = torch.cholesky_solve(r.unsqueeze(1), chol).squeeze(1)
        t4 = time.perf_counter()
        direction = unflatten(j.T @ alpha)
        t5 = time.perf_counter()
        loss0 = 0.5 * float(r @ r)
        best_eta, best_loss = 0.0, loss0
        for e in range(31):
            eta = 0.5 ** e
            trial = tuple(p - eta * s for p, s in zip(params, direction))
            rt = residual(trial, xi, xb)
            lt = 0.5 * float(rt @ rt)
            if lt < best_loss:
                best_eta, best_loss = eta, lt
        if best_eta > 0:
            params = tuple(p - best_eta * s for p, s in zip(params, direction))
        t6 = time.perf_counter()
        steps.append({"residual_s": t1 - t0, "jacobian_s": t2 - t1, "kernel_s": t3 - t2, "cholesky_solve_s": t4 - t3,
                      "push_through_s": t5 - t4, "line_search_s": t6 - t5, "step_s": t6 - t0,
                      "loss_before": loss0, "loss_after": best_loss, "eta": best_eta})
    print(json.dumps({"problem": "poisson5d", "optimizer": "engd-woodbury", "framework": f"torch {torch.__version__}",
                      "threads": args.threads, "n": args.interior + args.boundary, "p": p_count,
                      "damping": args.damping, "steps": steps, "min_step_s": min(s["step_s"] for s in steps)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
