#!/usr/bin/python3
"""Generate the ONNX import fixtures under tests/fixtures/onnx/ with Debian's PyTorch 1.13.

    tests/fixtures/onnx/<case>/model.onnx            torch.onnx.export of the float32 model
    tests/fixtures/onnx/<case>/data.safetensors      x (F64) and y, shared by both routes
    tests/fixtures/onnx/<case>/reference.safetensors torch float64 references: output [N, ...], loss [1], grad [P]
    tests/fixtures/onnx/<case>/model.json,           for nn.Sequential cases: tools/export_model.py's output for the
                               weights.safetensors   same model (the model.json route)

The references are computed in float64 from the float32 weights (exactly representable), so the C# float64 import
must agree to rounding. Metadata of reference.safetensors: loss, reduction, opset, batch ("dynamic" or the fixed
size) and param_names (JSON list, the order of model.parameters()). The script also checks that export_model.export
rejects an unsupported module by name.

Usage (repo root):  /usr/bin/python3 tools/make_onnx_fixtures.py
"""

import json
import os
import shutil
import sys
import zlib

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_model import export  # noqa: E402
from st_io import write_safetensors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "fixtures", "onnx")


class Sin(nn.Module):
    def forward(self, x):
        return torch.sin(x)


class Cos(nn.Module):
    def forward(self, x):
        return torch.cos(x)


class Exp(nn.Module):
    def forward(self, x):
        return torch.exp(x)


class Residual(nn.Module):
    """body(x) + shortcut(x), or body(x) + x without a shortcut."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class FlattenByReshape(nn.Module):
    """x.reshape(N, -1) with N traced from the input: a constant Reshape target when the batch size is fixed,
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape when it is dynamic."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


def seed_for(name):
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def cases():
    """name -> (model builder, loss, per-sample input shape, N, opset, dynamic batch, also model.json)."""
    return {
        # Linear without bias exports as MatMul with a renamed, transposed weight; GELU as the Erf pattern.
        "mlp": (lambda: nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 4, bias=False)),
                nn.CrossEntropyLoss(), [6], 7, 13, True, True),
        "cnn": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 5, 3, padding=1), nn.Sigmoid(), nn.AvgPool2d(2, stride=1),
                                      nn.Flatten(), nn.Linear(20, 3)),
                nn.CrossEntropyLoss(reduction="sum"), [2, 7, 7], 5, 17, False, True),
        "mlp_bce": (lambda: nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)),
                    nn.BCEWithLogitsLoss(), [5], 6, 14, True, True),
        # Residual blocks with and without a projection, and the activations model.json lacks.
        "resmlp": (lambda: nn.Sequential(nn.Linear(4, 8), Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))),
                                         Sin(), nn.Linear(8, 8), Cos(),
                                         Residual(nn.Sequential(nn.Linear(8, 6), Exp()), nn.Linear(8, 6, bias=False)),
                                         nn.Softplus(), nn.Linear(6, 3)),
                   nn.MSELoss(), [4], 6, 14, True, False),
        "rescnn": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1),
                                         Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))),
                                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), FlattenByReshape(), nn.Linear(4, 3)),
                   nn.CrossEntropyLoss(), [2, 6, 6], 4, 17, False, False),
        # x.view(x.size(0), -1) with a dynamic batch: the Reshape target is computed from the input's shape.
        "cnn_view": (lambda: nn.Sequential(nn.Conv2d(1, 3, 3, stride=2), nn.Tanh(), nn.MaxPool2d(2), FlattenByReshape(),
                                           nn.Linear(12, 2)),
                     nn.MSELoss(reduction="sum"), [1, 9, 9], 5, 13, True, False),
    }


def targets(loss, out):
    n = out.shape[0]
    if isinstance(loss, nn.CrossEntropyLoss):
        return torch.randint(0, out.shape[1], (n,), dtype=torch.int64)
    if isinstance(loss, nn.BCEWithLogitsLoss):
        return torch.rand(out.shape, dtype=torch.float64)
    return torch.randn(out.shape, dtype=torch.float64)


def onnx_export(model, sample, path, opset, dynamic):
    kwargs = dict(input_names=["x"], output_names=["y"], opset_version=opset, do_constant_folding=True)
    if dynamic:
        kwargs["dynamic_axes"] = {"x": {0: "batch"}, "y": {0: "batch"}}
    torch.onnx.export(model, sample, path, **kwargs)


def make_case(name, build, loss, shape, n, opset, dynamic, spec_route):
    torch.manual_seed(seed_for("onnx/" + name))
    model = build().float().eval()
    x = torch.randn(n, *shape, dtype=torch.float64)
    reference = build().double().eval()
    reference.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    out = reference(x)
    y = targets(loss, out)
    value = loss(out, y)
    params = list(reference.parameters())
    grad = torch.nn.utils.parameters_to_vector(torch.autograd.grad(value, params)).detach()

    d = os.path.join(OUT, name)
    os.makedirs(d)
    onnx_export(model, x[:n].float(), os.path.join(d, "model.onnx"), opset, dynamic)
    loss_name = {nn.CrossEntropyLoss: "cross_entropy", nn.MSELoss: "mse", nn.BCEWithLogitsLoss: "bce_with_logits"}[type(loss)]
    meta = {"generator": "tools/make_onnx_fixtures.py", "torch_version": torch.__version__, "loss": loss_name,
            "reduction": loss.reduction, "opset": str(opset), "batch": "dynamic" if dynamic else str(n),
            "param_names": json.dumps([k for k, _ in reference.named_parameters()])}
    write_safetensors(os.path.join(d, "reference.safetensors"),
                      {"output": out.detach(), "loss": value.detach().reshape(1), "grad": grad}, meta)
    if spec_route:
        paths = export(model, loss, x, y, d)  # model.json, weights.safetensors, data.safetensors
        assert os.path.basename(paths[2]) == "data.safetensors"
    else:
        write_safetensors(os.path.join(d, "data.safetensors"), {"x": x, "y": y},
                          {"generator": "tools/make_onnx_fixtures.py", "torch_version": torch.__version__})
    print(f"onnx/{name}: opset {opset}, batch {meta['batch']}, {grad.numel()} parameters, loss {value.item():.6g}")


def make_unsupported():
    """A graph with an op the importer does not support (LeakyRelu), to test the error."""
    torch.manual_seed(seed_for("onnx/unsupported"))
    model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1), nn.Linear(4, 2)).eval()
    d = os.path.join(OUT, "unsupported")
    os.makedirs(d)
    onnx_export(model, torch.randn(2, 3), os.path.join(d, "model.onnx"), 13, True)
    print("onnx/unsupported: LeakyRelu")


def check_export_rejects_unsupported():
    model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1))
    try:
        export(model, nn.MSELoss(), torch.randn(2, 3), torch.randn(2, 4), os.path.join(OUT, "never_written"))
    except ValueError as e:
        assert "module '1' (LeakyReLU) is not supported" in str(e), str(e)
        assert not os.path.exists(os.path.join(OUT, "never_written"))
        return
    raise AssertionError("export accepted LeakyReLU")


def main():
    torch.set_num_threads(1)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for name, args in cases().items():
        make_case(name, *args)
    make_unsupported()
    check_export_rejects_unsupported()


if __name__ == "__main__":
    main()
