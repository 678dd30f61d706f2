#!/usr/bin/python3
"""Generate float64 PyTorch reference fixtures under tests/fixtures/.

    tests/fixtures/layers/<case>.safetensors   single-layer forward / VJP / HVP
    tests/fixtures/losses/<case>.safetensors   loss value, gradient, full Hessian
    tests/fixtures/models/<model>/             model.json, weights.safetensors,
                                               data.safetensors, grad.npy, loss.json

Schema: tests/fixtures/README.md. Every case uses its own fixed seed, so the
output is deterministic and re-running rewrites identical bytes (given the
same torch build). Stale files in the three fixture directories are removed.

Usage (repo root):  /usr/bin/python3 tools/make_fixtures.py [--out tests/fixtures]
"""

import argparse
import json
import os
import shutil
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_io import read_safetensors, write_npy, write_safetensors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

torch.set_default_dtype(torch.float64)


def seed_for(name):
    """Stable per-case seed (independent of case order)."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def common_meta():
    return {"generator": "tools/make_fixtures.py", "torch_version": torch.__version__}


# ----------------------------------------------------------------------------
# Input generators
# ----------------------------------------------------------------------------

def randn(shape):
    return torch.randn(*shape)


def randn_away_from_zero(shape, gap=0.1):
    """Normal samples with |x| >= gap (keeps ReLU away from its kink)."""
    x = torch.randn(*shape)
    return x + gap * torch.sign(x)


def distinct_values(shape, spacing=0.05):
    """A random permutation of evenly spaced values: every pair of entries
    differs by at least `spacing`, so max-pool argmaxes are unambiguous even
    under finite-difference perturbations."""
    n = int(np.prod(shape))
    perm = torch.randperm(n).to(torch.float64)
    return ((perm - (n - 1) / 2.0) * spacing).reshape(*shape)


# ----------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------

# (case, layer type, torch constructor, config dict, input shape, input kind,
#  mode, extra setup, with_hvp)
def layer_cases():
    C = []

    def add(case, ltype, ctor, config, shape, kind="randn", mode="train", setup=None, hvp=False):
        C.append(dict(case=case, ltype=ltype, ctor=ctor, config=config, shape=shape,
                      kind=kind, mode=mode, setup=setup, hvp=hvp))

    # linear
    add("linear", "linear", nn.Linear, dict(in_features=5, out_features=3, bias=True), [4, 5])
    add("linear_nobias", "linear", nn.Linear, dict(in_features=5, out_features=3, bias=False), [4, 5])

    # conv2d (square kernels)
    def conv(cin, cout, k, s, p, b):
        return dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=s, padding=p, bias=b)
    add("conv2d_k3_s1_p1", "conv2d", nn.Conv2d, conv(2, 3, 3, 1, 1, True), [2, 2, 6, 5])
    add("conv2d_k3_s2_p0", "conv2d", nn.Conv2d, conv(2, 3, 3, 2, 0, True), [2, 2, 7, 8])
    add("conv2d_k3_s2_p2_odd", "conv2d", nn.Conv2d, conv(2, 3, 3, 2, 2, True), [2, 2, 7, 9])
    add("conv2d_k3_s1_p1_nobias", "conv2d", nn.Conv2d, conv(2, 3, 3, 1, 1, False), [2, 2, 5, 5])
    add("conv2d_k2_s1_p0", "conv2d", nn.Conv2d, conv(3, 2, 2, 1, 0, True), [1, 3, 4, 5])

    # elementwise activations
    add("relu", "relu", nn.ReLU, {}, [3, 4, 5], kind="away_from_zero")
    add("tanh", "tanh", nn.Tanh, {}, [3, 4, 5], hvp=True)
    add("sigmoid", "sigmoid", nn.Sigmoid, {}, [3, 4, 5], hvp=True)
    add("gelu", "gelu", nn.GELU, dict(approximate="none"), [3, 4, 5], hvp=True)
    add("softplus", "softplus", nn.Softplus, dict(beta=1, threshold=20), [3, 4, 5], hvp=True)

    # shape
    add("flatten", "flatten", nn.Flatten, dict(start_dim=1, end_dim=-1), [2, 3, 2, 4])

    # pooling (padding 0, ceil_mode False, dilation 1)
    def pool(k, s):
        return dict(kernel_size=k, stride=s, padding=0)
    add("maxpool2d_k2_s2", "maxpool2d", nn.MaxPool2d, pool(2, 2), [2, 2, 6, 6], kind="distinct")
    add("maxpool2d_k3_s2", "maxpool2d", nn.MaxPool2d, pool(3, 2), [2, 2, 7, 7], kind="distinct")
    add("avgpool2d_k2_s2", "avgpool2d", nn.AvgPool2d, pool(2, 2), [2, 2, 6, 6])
    add("avgpool2d_k3_s1", "avgpool2d", nn.AvgPool2d, pool(3, 1), [2, 2, 5, 6])

    # normalisation; affine parameters randomised (default init is 1/0)
    def rand_affine(m, g):
        with torch.no_grad():
            m.weight.copy_(1.0 + 0.5 * torch.randn(m.weight.shape, generator=g))
            m.bias.copy_(0.5 * torch.randn(m.bias.shape, generator=g))

    add("layernorm", "layernorm", nn.LayerNorm,
        dict(normalized_shape=[5], eps=1e-5, elementwise_affine=True), [2, 3, 5],
        setup=rand_affine, hvp=True)

    def bn_setup(m, g):
        rand_affine(m, g)
        with torch.no_grad():
            m.running_mean.copy_(0.5 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))

    bn = dict(num_features=3, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)
    add("batchnorm2d_train", "batchnorm2d", nn.BatchNorm2d, bn, [4, 3, 3, 3], setup=bn_setup)
    add("batchnorm2d_eval", "batchnorm2d", nn.BatchNorm2d, bn, [4, 3, 3, 3], mode="eval", setup=bn_setup)

    # dropout: eval mode only (identity)
    add("dropout_eval", "dropout", nn.Dropout, dict(p=0.5), [3, 4], mode="eval")
    return C


def make_layer(c, out_dir):
    torch.manual_seed(seed_for("layer/" + c["case"]))
    g = torch.Generator().manual_seed(seed_for("layer-setup/" + c["case"]))
    cfg = dict(c["config"])
    ctor_args = dict(cfg)
    if c["ltype"] == "layernorm":
        ctor_args["normalized_shape"] = tuple(cfg["normalized_shape"])
    if c["ltype"] in ("maxpool2d", "avgpool2d"):
        pass  # kernel_size/stride/padding map 1:1
    m = c["ctor"](**ctor_args).to(torch.float64)
    if c["setup"] is not None:
        c["setup"](m, g)
    m.train(c["mode"] == "train")

    kind = c["kind"]
    if kind == "randn":
        x = randn(c["shape"])
    elif kind == "away_from_zero":
        x = randn_away_from_zero(c["shape"])
    elif kind == "distinct":
        x = distinct_values(c["shape"])
    else:
        raise ValueError(kind)
    x = x.detach().requires_grad_(True)

    params = list(m.named_parameters())
    buffers = [(n, b.detach().clone()) for n, b in m.named_buffers() if n in ("running_mean", "running_var")]

    out = m(x)
    gout = torch.randn(out.shape)
    wrt = [x] + [p for _, p in params]
    grads = torch.autograd.grad(out, wrt, gout, create_graph=c["hvp"])

    T = {"input": x}
    for n, p in params:
        T["param." + n] = p
    for n, b in buffers:
        T["buffer." + n] = b
    T["output"] = out
    T["grad_output"] = gout
    T["grad.input"] = grads[0]
    for (n, _), gp in zip(params, grads[1:]):
        T["grad.param." + n] = gp
    if c["mode"] == "train" and buffers:
        for n, b in m.named_buffers():
            if n in ("running_mean", "running_var"):
                T["buffer_after." + n] = b.detach().clone()
    if c["hvp"]:
        v = torch.randn(x.shape)
        (hv,) = torch.autograd.grad((grads[0] * v).sum(), [x])
        T["v"] = v
        T["hvp.input"] = hv

    meta = common_meta()
    meta.update({
        "layer": c["ltype"],
        "config": json.dumps(cfg, separators=(",", ":")),
        "mode": c["mode"],
        "torch_module": "torch.nn." + m.__class__.__name__,
        "case": c["case"],
    })
    path = os.path.join(out_dir, c["case"] + ".safetensors")
    write_safetensors(path, {k: v.detach() for k, v in T.items()}, meta)
    return path


# ----------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------

LOSS_FNS = {
    "cross_entropy": F.cross_entropy,
    "mse": F.mse_loss,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
}


def make_loss(ltype, reduction, out_dir, large=False):
    case = f"{ltype}_{reduction}" + ("_large" if large else "")
    torch.manual_seed(seed_for("loss/" + case))
    N, C = 4, 3
    if large:
        # |logits| ~ 1000: naive exp() overflows; needs max-subtraction / log-sum-exp.
        x = torch.tensor([[1000.0, -1000.0, 0.0],
                          [-1000.0, 1000.0, 999.0],
                          [1000.0, 1000.0, -1000.0],
                          [-1000.0, -999.5, -1001.0]])
    else:
        x = torch.randn(N, C)
    if ltype == "cross_entropy":
        t = torch.tensor([0, 2, 1, 1], dtype=torch.int64) if large else torch.randint(0, C, (N,), dtype=torch.int64)
    elif ltype == "mse":
        t = torch.randn(N, C)
    elif ltype == "bce_with_logits":
        t = torch.rand(N, C)  # soft targets in (0, 1)
    fn = LOSS_FNS[ltype]

    def f(z):
        return fn(z.reshape(N, C), t, reduction=reduction)

    x = x.detach().requires_grad_(True)
    loss = f(x)
    (gx,) = torch.autograd.grad(loss, [x])
    H = torch.autograd.functional.hessian(f, x.detach().reshape(-1))
    assert H.shape == (N * C, N * C)
    assert torch.isfinite(loss) and torch.isfinite(gx).all() and torch.isfinite(H).all(), case

    T = {"input": x.detach(), "target": t, "loss": loss.detach().reshape(1),
         "grad.input": gx, "hessian": H}
    meta = common_meta()
    meta.update({
        "loss": ltype,
        "reduction": reduction,
        "config": json.dumps({"reduction": reduction}, separators=(",", ":")),
        "torch_function": "torch.nn.functional." + fn.__name__,
        "case": case,
    })
    path = os.path.join(out_dir, case + ".safetensors")
    write_safetensors(path, T, meta)
    return path


# ----------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------

def build_sequential(spec):
    mods = []
    for i, L in enumerate(spec["layers"]):
        t = L["type"]
        if "name" in L:
            assert L["name"] == str(i), (L, i)
        if t == "linear":
            m = nn.Linear(L["in_features"], L["out_features"], bias=L["bias"])
        elif t == "conv2d":
            m = nn.Conv2d(L["in_channels"], L["out_channels"], L["kernel_size"],
                          stride=L["stride"], padding=L["padding"], bias=L["bias"])
        elif t == "relu":
            m = nn.ReLU()
        elif t == "tanh":
            m = nn.Tanh()
        elif t == "sigmoid":
            m = nn.Sigmoid()
        elif t == "gelu":
            m = nn.GELU()  # exact erf form
        elif t == "flatten":
            m = nn.Flatten()
        elif t == "maxpool2d":
            m = nn.MaxPool2d(L["kernel_size"], stride=L["stride"])
        elif t == "avgpool2d":
            m = nn.AvgPool2d(L["kernel_size"], stride=L["stride"])
        else:
            raise ValueError(t)
        has_params = len(list(m.parameters())) > 0
        assert has_params == ("name" in L), L
        mods.append(m)
    return nn.Sequential(*mods).to(torch.float64)


def lin(i, fin, fout, bias=True):
    return {"type": "linear", "name": str(i), "in_features": fin, "out_features": fout, "bias": bias}


def conv(i, cin, cout, k, s, p, bias=True):
    return {"type": "conv2d", "name": str(i), "in_channels": cin, "out_channels": cout,
            "kernel_size": k, "stride": s, "padding": p, "bias": bias}


MODELS = {
    "mlp": dict(
        spec={"input_shape": [12],
              "layers": [lin(0, 12, 16), {"type": "tanh"}, lin(2, 16, 16), {"type": "gelu"}, lin(4, 16, 5)],
              "loss": {"type": "cross_entropy", "reduction": "mean"}},
        N=13),
    "cnn": dict(
        spec={"input_shape": [2, 7, 7],
              "layers": [conv(0, 2, 4, 3, 1, 1),                                   # [4,7,7]
                         {"type": "relu"},
                         {"type": "maxpool2d", "kernel_size": 2, "stride": 2},     # [4,3,3]
                         conv(3, 4, 5, 3, 1, 1),                                   # [5,3,3]
                         {"type": "tanh"},
                         {"type": "avgpool2d", "kernel_size": 2, "stride": 1},     # [5,2,2]
                         {"type": "flatten"},                                      # [20]
                         lin(7, 20, 3)],
              "loss": {"type": "cross_entropy", "reduction": "sum"}},
        N=11),
    "mlp_mse": dict(
        spec={"input_shape": [6],
              "layers": [lin(0, 6, 8), {"type": "sigmoid"}, lin(2, 8, 2)],
              "loss": {"type": "mse", "reduction": "mean"}},
        N=9),
    "mlp_bce": dict(
        spec={"input_shape": [6],
              "layers": [lin(0, 6, 8), {"type": "relu"}, lin(2, 8, 3, bias=False)],
              "loss": {"type": "bce_with_logits", "reduction": "mean"}},
        N=10),
}


def make_model(name, out_dir):
    torch.manual_seed(seed_for("model/" + name))
    spec, N = MODELS[name]["spec"], MODELS[name]["N"]
    model = build_sequential(spec)  # default PyTorch init under the seed above
    x = torch.randn(N, *spec["input_shape"])
    with torch.no_grad():
        out_shape = model(x).shape
    lt = spec["loss"]["type"]
    if lt == "cross_entropy":
        y = torch.randint(0, out_shape[1], (N,), dtype=torch.int64)
    elif lt == "mse":
        y = torch.randn(out_shape)
    elif lt == "bce_with_logits":
        y = torch.rand(out_shape)
    fn = LOSS_FNS[lt]

    loss = fn(model(x), y, reduction=spec["loss"]["reduction"])
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params)
    flat = torch.nn.utils.parameters_to_vector(grads).detach()
    assert flat.numel() == sum(p.numel() for p in params)

    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.json"), "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    sd = model.state_dict()
    assert list(sd.keys()) == [n for n, _ in model.named_parameters()]
    meta = common_meta()
    meta["model"] = name
    write_safetensors(os.path.join(d, "weights.safetensors"), {k: v.detach() for k, v in sd.items()}, meta)
    write_safetensors(os.path.join(d, "data.safetensors"), {"x": x, "y": y},
                      dict(meta, n=str(N), output_shape=json.dumps(list(out_shape))))
    write_npy(os.path.join(d, "grad.npy"), flat.numpy())
    with open(os.path.join(d, "loss.json"), "w") as f:
        json.dump({"loss": float(loss.item())}, f)  # json float = repr: shortest round-trip
        f.write("\n")
    return d, flat.numel(), list(out_shape)


# ----------------------------------------------------------------------------
# Self-check: reload the files and recompute from them
# ----------------------------------------------------------------------------

def verify_model(d):
    spec = json.load(open(os.path.join(d, "model.json")))
    W, _ = read_safetensors(os.path.join(d, "weights.safetensors"))
    D, _ = read_safetensors(os.path.join(d, "data.safetensors"))
    model = build_sequential(spec)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in W.items()}, strict=True)
    x, y = torch.from_numpy(D["x"]), torch.from_numpy(D["y"])
    loss = LOSS_FNS[spec["loss"]["type"]](model(x), y, reduction=spec["loss"]["reduction"])
    g = torch.nn.utils.parameters_to_vector(torch.autograd.grad(loss, list(model.parameters())))
    g_ref = np.load(os.path.join(d, "grad.npy"))
    l_ref = json.load(open(os.path.join(d, "loss.json")))["loss"]
    assert g_ref.dtype == np.dtype("<f8") and g_ref.ndim == 1
    assert np.array_equal(g.detach().numpy(), g_ref), d
    assert loss.item() == l_ref, d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(1)  # bitwise reproducibility of reductions

    for sub in ("layers", "losses", "models"):
        p = os.path.join(args.out, sub)
        if os.path.isdir(p):
            shutil.rmtree(p)
        os.makedirs(p)

    for c in layer_cases():
        p = make_layer(c, os.path.join(args.out, "layers"))
        T, _ = read_safetensors(p)
        print(f"layers/{os.path.basename(p)}: " + ", ".join(f"{k}{list(v.shape)}" for k, v in T.items()))

    for lt in LOSS_FNS:
        for red in ("mean", "sum"):
            p = make_loss(lt, red, os.path.join(args.out, "losses"))
            T, _ = read_safetensors(p)
            print(f"losses/{os.path.basename(p)}: loss={T['loss'][0]!r}")
    p = make_loss("cross_entropy", "mean", os.path.join(args.out, "losses"), large=True)
    T, _ = read_safetensors(p)
    print(f"losses/{os.path.basename(p)}: loss={T['loss'][0]!r}")

    for name in MODELS:
        d, P, oshape = make_model(name, os.path.join(args.out, "models"))
        verify_model(d)
        print(f"models/{name}: {P} params, N={MODELS[name]['N']}, output {oshape}, "
              f"loss={json.load(open(os.path.join(d, 'loss.json')))['loss']!r}")


if __name__ == "__main__":
    main()
