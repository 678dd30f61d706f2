"""Reference timing for `curvnative`'s Lanczos: top-10 largest-magnitude Hessian eigenvalues of the
MLP 784-256-256-10 (tanh, cross-entropy mean, batch 256, float32) with scipy's eigsh on a torch
Hessian-vector product (double backward). Run with the system python (Debian's python3-torch and scipy):

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/bench_eigsh.py --threads 1 --tol 1e-4
"""
import argparse, json, os, sys, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    want = str(args.threads)
    if os.environ.get("OPENBLAS_NUM_THREADS") != want:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=want, OMP_NUM_THREADS=want, OMP_WAIT_POLICY="PASSIVE")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    import numpy as np, torch
    from scipy.sparse.linalg import LinearOperator, eigsh
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.Tanh(), torch.nn.Linear(256, 256), torch.nn.Tanh(), torch.nn.Linear(256, 10))
    x = torch.randn(256, 784); y = torch.randint(0, 10, (256,))
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    count = [0]
    def hvp(v):
        count[0] += 1
        v = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32).reshape(-1))
        hv = torch.autograd.grad((flat * v).sum(), params, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).numpy().astype(np.float64)
    op = LinearOperator((n, n), matvec=hvp, dtype=np.float64)
    start = time.perf_counter()
    vals = eigsh(op, k=args.k, which="LM", tol=args.tol, return_eigenvectors=False)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "matvecs": count[0], "eigenvalues": sorted(vals.tolist(), key=abs, reverse=True), "n": n, "threads": args.threads}))

if __name__ == "__main__":
    main()
