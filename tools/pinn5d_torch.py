"""A minimal PyTorch ENGD-Woodbury for poisson5d: the per-step convergence reference for `curvnative pinn`.

Setup as rla-pinns (Guzmán-Cordero et al. 2025) and issue 11: -Delta u = pi^2 sum_i cos(pi x_i) on [0,1]^5, u = u* on
the boundary, u* = sum_i cos(pi x_i); tanh MLP 5 -> 64 -> 64 -> 48 -> 48 -> 1 with PyTorch's default initialisation;
float64; N_Omega interior + N_dOmega boundary points resampled every step (boundary: a uniform point with one uniformly
chosen coordinate set to 0 or 1, as rla_pinns.poisson_equation.square_boundary); residuals
r = [(Delta u + f) / sqrt(N_Omega); (u - u*) / sqrt(N_dOmega)], loss 1/2 ||r||^2 (= 1/2 mean + 1/2 mean);
step phi = J^T (J J^T + lambda I)^-1 r (Cholesky), theta -= eta phi with eta the best of {2^-30, ..., 2^0} on the
step's batch, no step when no grid point beats eta = 0 (rla_pinns.optim.line_search.grid_line_search).
Per-point Laplacians by the forward Laplacian (value, D first-order directions, Laplacian through each layer);
per-point Jacobians by functorch (vmap of jacrev over the parameters).

Usage: /usr/bin/python3 tools/pinn5d_torch.py [--steps 20] [--seed 0] [--damping 1e-10] [--eval-points 5000]
       [--threads 2] [--init FILE.safetensors]  (--init: start from a curvnative weights file, names "0.weight", ...)
Prints one line per step: step, loss before the step, eta, relative L2 after the step, seconds.
"""

import argparse
import math
import time

import torch
from functorch import jacrev, make_functional, vmap

D = 5
WIDTHS = [64, 64, 48, 48]


def build(seed):
    torch.manual_seed(seed)
    layers, w = [], D
    for h in WIDTHS:
        layers += [torch.nn.Linear(w, h), torch.nn.Tanh()]
        w = h
    layers.append(torch.nn.Linear(w, 1))
    return torch.nn.Sequential(*layers)


def u_star(x):
    return torch.cos(math.pi * x).sum(dim=1)


def source(x):  # f with -Delta u* = f
    return math.pi**2 * torch.cos(math.pi * x).sum(dim=1)


def forward(params, x):
    """u at one point x [D]."""
    z = x
    n = len(params) // 2
    for i in range(n):
        z = params[2 * i] @ z + params[2 * i + 1]
        if i < n - 1:
            z = torch.tanh(z)
    return z[0]


def laplacian(params, x):
    """Delta u at one point x [D] by the forward Laplacian."""
    z, g, lap = x, torch.eye(D, dtype=x.dtype), torch.zeros(D, dtype=x.dtype)
    n = len(params) // 2
    for i in range(n):
        w, b = params[2 * i], params[2 * i + 1]
        z, g, lap = w @ z + b, g @ w.T, w @ lap
        if i < n - 1:
            t = torch.tanh(z)
            d1 = 1 - t * t
            d2 = -2 * t * d1
            lap = d1 * lap + d2 * (g * g).sum(0)
            g = g * d1
            z = t
    return lap[0]


def residuals(params, xi, xb):
    lap = vmap(laplacian, in_dims=(None, 0))(params, xi)
    u = vmap(forward, in_dims=(None, 0))(params, xb)
    ri = (lap + source(xi)) / math.sqrt(xi.shape[0])
    rb = (u - u_star(xb)) / math.sqrt(xb.shape[0])
    return torch.cat([ri, rb])


def jacobian(params, xi, xb, chunk=500):
    rows = []
    for fn, x, scale in ((laplacian, xi, xi.shape[0]), (forward, xb, xb.shape[0])):
        for s in range(0, x.shape[0], chunk):
            jac = vmap(jacrev(fn), in_dims=(None, 0))(params, x[s:s + chunk])
            rows.append(torch.cat([j.reshape(j.shape[0], -1) for j in jac], dim=1) / math.sqrt(scale))
    return torch.cat(rows)


def boundary_points(n):
    x = torch.rand(n, D)
    dims = torch.randint(0, D, (n,))
    sides = torch.randint(0, 2, (n,)).to(x.dtype)
    x[torch.arange(n), dims] = sides
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--damping", type=float, default=1e-10)
    ap.add_argument("--interior", type=int, default=3000)
    ap.add_argument("--boundary", type=int, default=500)
    ap.add_argument("--eval-points", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)
    model = build(args.seed)
    _, params = make_functional(model)
    params = [p.detach().clone() for p in params]
    if args.init:
        from st_io import read_safetensors  # noqa: E402 (tools/st_io.py)

        tensors, _ = read_safetensors(args.init)
        names = [f"{2 * i}.{k}" for i in range(len(params) // 2) for k in ("weight", "bias")]
        params = [torch.as_tensor(tensors[nm], dtype=torch.float64).reshape(p.shape).clone() for nm, p in zip(names, params)]
    gen = torch.Generator().manual_seed(12345)
    x_eval = torch.rand(args.eval_points, D, generator=gen)
    u_eval = u_star(x_eval)

    def l2():
        u = vmap(forward, in_dims=(None, 0))(params, x_eval)
        return ((u - u_eval).norm() / u_eval.norm()).item()

    grid = [2.0**-k for k in range(30, -1, -1)]
    print(f"step 0 l2 {l2():.3e}", flush=True)
    start = time.time()
    for step in range(1, args.steps + 1):
        xi, xb = torch.rand(args.interior, D), boundary_points(args.boundary)
        with torch.no_grad():
            r = residuals(params, xi, xb)
        j = jacobian(params, xi, xb)
        k = j @ j.T
        k.diagonal().add_(args.damping)
        alpha = torch.cholesky_solve(r.unsqueeze(1), torch.linalg.cholesky(k)).squeeze(1)
        phi = j.T @ alpha
        loss0 = 0.5 * (r * r).sum().item()
        sizes = [p.numel() for p in params]
        steps_ = [s.reshape(p.shape) for s, p in zip(phi.split(sizes), params)]
        best, best_eta = loss0, 0.0
        with torch.no_grad():
            for eta in grid:
                trial = [p - eta * s for p, s in zip(params, steps_)]
                rt = residuals(trial, xi, xb)
                lt = 0.5 * (rt * rt).sum().item()
                if lt < best:
                    best, best_eta = lt, eta
            params = [p - best_eta * s for p, s in zip(params, steps_)]
        print(f"step {step} loss {loss0:.4e} eta {best_eta:.3g} l2 {l2():.3e} {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
