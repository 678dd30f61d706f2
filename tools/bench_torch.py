#!/usr/bin/python3
"""PyTorch (CPU, float32) reference timings for CurvNative benchmarks.

Usage (repo root):
    /usr/bin/python3 tools/bench_torch.py --threads 1 [--out benchmarks/results/torch_t1.json]

Thread pinning: Debian's torch links the *pthreads* OpenBLAS
(/usr/lib/x86_64-linux-gnu/openblas-pthread), which has its own thread pool and
ignores torch.set_num_threads / OpenMP. OPENBLAS_NUM_THREADS must be in the
environment before the library is loaded, so if OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS / MKL_NUM_THREADS differ from --threads this script re-execs
itself with them set (plus OMP_WAIT_POLICY=PASSIVE, see --omp-wait-policy),
then also calls torch.set_num_threads(T) (intra-op OpenMP pool) and
openblas_set_num_threads(T) via ctypes as a belt-and-braces.

Reported (median of --repeats timed runs after --warmup untimed runs):
  mlp_grad_ms     forward+backward, MLP 784-256(tanh)-256(tanh)-10, CE mean, batch 256
  cnn_grad_ms     forward+backward, [64,3,32,32] Conv(3,16,3,p1) ReLU MaxPool2 Conv(16,32,3,p1)
                  ReLU MaxPool2 Flatten Linear(2048,10), CE mean
  mlp_fwd_ms, cnn_fwd_ms   the forward pass + loss alone (graph recorded, no backward)
  sgemm_gflops    torch.mm 1024x1024 @ 1024x1024
  sgemm_256x784x256_gflops   torch.mm 256x784 @ 784x256
  mlp_hvp_ms      Hessian-vector product of the MLP loss (double backward, incl. forward)
  mlp_ggnvp_ms    GGN-vector product J^T H_L J v of the MLP (functorch jvp + vjp, incl.
                  forward; H_L = analytic softmax-CE Hessian); falls back to
                  torch.autograd.functional.jvp/vjp if functorch is unavailable
Output: JSON to stdout, and to --out FILE if given.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_REEXEC_MARK = "CURVNATIVE_BENCH_REEXEC"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=50,
                    help="timed repeats per benchmark (sgemm 1024: at least 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--omp-wait-policy", default="PASSIVE",
                    help="OMP_WAIT_POLICY for the run (default PASSIVE; 'inherit' keeps the caller's value). "
                         "libgomp's default spin-waiting workers starve OpenBLAS's own pthreads when "
                         "threads == cores")
    ap.add_argument("--skip-second-order", action="store_true", help="skip (d): HVP / GGN-vector product")
    return ap.parse_args(argv)


def ensure_thread_env(threads, wait_policy):
    """Must run before `import torch`. Re-exec with the env set if needed."""
    want = {v: str(threads) for v in _ENV_VARS}
    if wait_policy != "inherit":
        want["OMP_WAIT_POLICY"] = wait_policy
    if all(os.environ.get(k) == v for k, v in want.items()):
        return
    if os.environ.get(_REEXEC_MARK):
        raise SystemExit("bench_torch: failed to set thread environment on re-exec")
    if "torch" in sys.modules:
        raise SystemExit("bench_torch: torch imported before thread env was set")
    env = dict(os.environ)
    env.update(want)
    env[_REEXEC_MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


def timeit(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    q = lambda f: ts[min(len(ts) - 1, int(f * len(ts)))]  # noqa: E731
    return {"median_ms": statistics.median(ts) * 1e3, "min_ms": ts[0] * 1e3,
            "p25_ms": q(0.25) * 1e3, "p75_ms": q(0.75) * 1e3, "repeats": repeats, "warmup": warmup}


def openblas_handle():
    import ctypes
    for name in ("libopenblas.so.0", "libopenblas.so"):
        try:
            lib = ctypes.CDLL(name)  # same handle as the copy torch already loaded
            lib.openblas_get_num_threads.restype = ctypes.c_int
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


def main():
    args = parse_args()
    ensure_thread_env(args.threads, args.omp_wait_policy)

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    T = args.threads
    torch.set_num_threads(T)
    ob = openblas_handle()
    if ob is not None:
        ob.openblas_set_num_threads(T)
    torch.manual_seed(args.seed)
    torch.set_default_dtype(torch.float32)
    W, R = args.warmup, args.repeats
    res = {"threads": T}
    details = {}

    # (a) MLP gradient -------------------------------------------------------
    mlp = nn.Sequential(nn.Linear(784, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 10))
    xm = torch.randn(256, 784)
    ym = torch.randint(0, 10, (256,))
    pm = list(mlp.parameters())

    def mlp_grad():
        loss = F.cross_entropy(mlp(xm), ym)
        return torch.autograd.grad(loss, pm)

    details["mlp_grad"] = timeit(mlp_grad, W, R)
    res["mlp_grad_ms"] = details["mlp_grad"]["median_ms"]
    details["mlp_fwd"] = timeit(lambda: F.cross_entropy(mlp(xm), ym), W, R)
    res["mlp_fwd_ms"] = details["mlp_fwd"]["median_ms"]

    # (b) CNN gradient -------------------------------------------------------
    cnn = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(32 * 8 * 8, 10))
    xc = torch.randn(64, 3, 32, 32)
    yc = torch.randint(0, 10, (64,))
    pc = list(cnn.parameters())

    def cnn_grad():
        loss = F.cross_entropy(cnn(xc), yc)
        return torch.autograd.grad(loss, pc)

    details["cnn_grad"] = timeit(cnn_grad, W, R)
    res["cnn_grad_ms"] = details["cnn_grad"]["median_ms"]
    details["cnn_fwd"] = timeit(lambda: F.cross_entropy(cnn(xc), yc), W, R)
    res["cnn_fwd_ms"] = details["cnn_fwd"]["median_ms"]

    # (c) sgemm --------------------------------------------------------------
    def gemm(m, k, n, reps):
        a, b = torch.randn(m, k), torch.randn(k, n)
        c = torch.empty(m, n)
        d = timeit(lambda: torch.mm(a, b, out=c), W, reps)
        d["gflops"] = 2.0 * m * k * n / (d["median_ms"] * 1e-3) / 1e9
        d["shape"] = [m, k, n]
        return d

    details["sgemm_1024"] = gemm(1024, 1024, 1024, max(20, R // 2))
    details["sgemm_256x784x256"] = gemm(256, 784, 256, R)
    res["sgemm_gflops"] = details["sgemm_1024"]["gflops"]
    res["sgemm_256x784x256_gflops"] = details["sgemm_256x784x256"]["gflops"]

    # (d) second order on the MLP of (a) -------------------------------------
    if not args.skip_second_order:
        vs = [torch.randn_like(p) for p in pm]

        def mlp_hvp():
            loss = F.cross_entropy(mlp(xm), ym)
            g = torch.autograd.grad(loss, pm, create_graph=True)
            dot = sum((gi * vi).sum() for gi, vi in zip(g, vs))
            return torch.autograd.grad(dot, pm)

        details["mlp_hvp"] = timeit(mlp_hvp, W, R)
        res["mlp_hvp_ms"] = details["mlp_hvp"]["median_ms"]

        B = xm.shape[0]

        def ce_hessian_mv(logits, u):
            # Hessian of mean CE wrt logits, applied per row: (diag(p) - p p^T) u / B
            p = torch.softmax(logits, dim=1)
            return (p * u - p * (p * u).sum(dim=1, keepdim=True)) / B

        try:
            import functorch
            fmodel, fparams = functorch.make_functional(mlp)

            def f(*ps):
                return fmodel(ps, xm)

            def mlp_ggnvp():
                logits, jv = functorch.jvp(f, tuple(fparams), tuple(vs))
                _, vjp_fn = functorch.vjp(f, *fparams)
                return vjp_fn(ce_hessian_mv(logits.detach(), jv))

            ggn_impl = "functorch %s: jvp (forward-mode) + vjp" % functorch.__version__
        except ImportError:
            from torch.autograd.functional import jvp as ajvp, vjp as avjp
            names = [n for n, _ in mlp.named_parameters()]

            def f(*ps):
                return torch.nn.utils.stateless.functional_call(mlp, dict(zip(names, ps)), (xm,))

            def mlp_ggnvp():
                logits, jv = ajvp(f, tuple(pm), tuple(vs))  # double-backward trick
                _, out = avjp(f, tuple(pm), ce_hessian_mv(logits.detach(), jv))
                return out

            ggn_impl = "torch.autograd.functional jvp (double-backward trick) + vjp"

        details["mlp_ggnvp"] = timeit(mlp_ggnvp, W, R)
        details["mlp_ggnvp"]["impl"] = ggn_impl
        res["mlp_ggnvp_ms"] = details["mlp_ggnvp"]["median_ms"]

    res["torch_version"] = torch.__version__
    res["torch_num_threads"] = torch.get_num_threads()
    res["openblas_num_threads"] = ob.openblas_get_num_threads() if ob is not None else None
    res["openblas_config"] = ob.openblas_get_config().decode() if ob is not None else None
    res["env"] = {v: os.environ.get(v) for v in _ENV_VARS + ("OMP_WAIT_POLICY",)}
    res["cpu"] = platform.processor() or platform.machine()
    res["cpu_count"] = os.cpu_count()
    res["details"] = details

    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        d = os.path.dirname(args.out)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
