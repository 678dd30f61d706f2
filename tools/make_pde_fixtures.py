#!/usr/bin/python3
"""Generate float64 PyTorch references for the PDE operators under tests/fixtures/pde/<activation>/.

    model.json           spec (input_shape [D], no loss), layers linear/act/linear/act/linear -> 1
    weights.safetensors  parameters (PyTorch names "0.weight", ...)
    points.npy           X [N, D]
    coefficients.npy     C [D, D] symmetric indefinite
    laplacian.npy        [N] trace of the input Hessian, nested double backward
    weighted.npy         [N] sum_ij C_ij H_ij
    biharmonic.npy       [N] Laplacian of the Laplacian (nested, fourth order)

Every case has a fixed seed (CRC32 of its name) and torch runs single-threaded, so reruns rewrite identical bytes.
Usage (repo root):  /usr/bin/python3 tools/make_pde_fixtures.py [--out tests/fixtures/pde]
"""

import argparse
import json
import os
import shutil
import sys
import zlib

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_io import write_npy, write_safetensors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

ACTIVATIONS = {
    "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "softplus": nn.Softplus,
    "sin": None, "cos": None, "exp": None,
}


class Elementwise(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def activation(name):
    if name == "sin":
        return Elementwise(torch.sin)
    if name == "cos":
        return Elementwise(torch.cos)
    if name == "exp":
        return Elementwise(torch.exp)
    return ACTIVATIONS[name]()


def hessians(u, x):
    """[N, D, D] input Hessians of sum(u) by nested reverse mode (rows are independent points)."""
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    rows = [torch.autograd.grad(g[:, i].sum(), x, create_graph=True)[0] for i in range(x.shape[1])]
    return torch.stack(rows, dim=1)


def laplacian(u, x):
    h = hessians(u, x)
    return torch.diagonal(h, dim1=1, dim2=2).sum(-1)


def make_case(out, name, d=3, hidden=8, n=6):
    torch.manual_seed(zlib.crc32(name.encode()) & 0x7FFFFFFF)
    model = nn.Sequential(nn.Linear(d, hidden), activation(name), nn.Linear(hidden, hidden), activation(name), nn.Linear(hidden, 1))
    x = (torch.rand(n, d) * 2 - 1).requires_grad_(True)
    a = torch.randn(d, d)
    c = a + a.T - torch.eye(d)  # symmetric, indefinite in general
    u = model(x).reshape(n)
    h = hessians(u, x)
    lap = torch.diagonal(h, dim1=1, dim2=2).sum(-1)
    weighted = (h * c).sum(dim=(1, 2))
    bih = laplacian(lap, x)
    layers = [{"type": "linear", "name": "0", "in_features": d, "out_features": hidden, "bias": True}, {"type": name},
              {"type": "linear", "name": "2", "in_features": hidden, "out_features": hidden, "bias": True}, {"type": name},
              {"type": "linear", "name": "4", "in_features": hidden, "out_features": 1, "bias": True}]
    case = os.path.join(out, name)
    os.makedirs(case)
    with open(os.path.join(case, "model.json"), "w") as f:
        json.dump({"input_shape": [d], "layers": layers}, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(case, "weights.safetensors"), {k: v.detach() for k, v in model.state_dict().items()},
                      {"generator": "tools/make_pde_fixtures.py", "torch_version": torch.__version__})
    write_npy(os.path.join(case, "points.npy"), x.detach().numpy())
    write_npy(os.path.join(case, "coefficients.npy"), c.numpy())
    write_npy(os.path.join(case, "laplacian.npy"), lap.detach().numpy())
    write_npy(os.path.join(case, "weighted.npy"), weighted.detach().numpy())
    write_npy(os.path.join(case, "biharmonic.npy"), bih.detach().numpy())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "pde"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    for name in ACTIVATIONS:
        make_case(args.out, name)
    print(f"wrote {len(ACTIVATIONS)} cases to {args.out}")


if __name__ == "__main__":
    main()
