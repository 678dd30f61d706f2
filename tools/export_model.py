"""Write a PyTorch model, its loss and a data set as CurvNative's files, in one call.

    import torch.nn as nn
    from export_model import export

    model = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 5))
    export(model, nn.CrossEntropyLoss(), x, y, "out/")
    # out/model.json, out/weights.safetensors, out/data.safetensors, then e.g.
    # curvnative eigs --model out/model.json --weights out/weights.safetensors --data out/data.safetensors ...

The file contract (tests/fixtures/README.md, docs of `curvnative --help`):

* model.json: {"input_shape": [...], "layers": [...], "loss": {"type": ..., "reduction": ...}} with layers
  linear, conv2d, relu, tanh, sigmoid, gelu, flatten, maxpool2d, avgpool2d; a layer with parameters is named
  by its index in the nn.Sequential, as PyTorch names it.
* weights.safetensors: the state_dict ("0.weight", "0.bias", ...) in the model's dtype.
* data.safetensors: "x" [N, *input_shape] as given (float32 or float64) and "y": int64 class indices [N] for
  cross-entropy, else float targets of the model's output shape.

Supported modules: nn.Linear, nn.Conv2d (square kernel, stride and padding, zero padding, no dilation or groups),
nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU (approximate="none"), nn.Flatten (start_dim=1, end_dim=-1),
nn.MaxPool2d and nn.AvgPool2d (square, unpadded, floor rounding), nn.Identity (skipped). Losses:
nn.CrossEntropyLoss, nn.MSELoss and nn.BCEWithLogitsLoss without class weights or label smoothing, reduction
"mean" or "sum". Anything else raises ValueError naming the module. Needs torch and numpy only (st_io.py beside
this file writes safetensors).
"""

import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_io import write_safetensors  # noqa: E402

__all__ = ["export"]


def _square(value, what, where):
    """An int, or a pair of equal ints (PyTorch stores kernel_size etc. as pairs)."""
    if isinstance(value, int):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == value[1] and isinstance(value[0], int):
        return value[0]
    raise ValueError(f"{where}: {what}={value!r} is not supported; expected an int or a square pair")


def _layer(name, module):
    """The model.json entry of one child of the nn.Sequential, or None for nn.Identity."""
    where = f"module '{name}' ({type(module).__name__})"
    if isinstance(module, nn.Linear):
        return {"type": "linear", "name": name, "in_features": module.in_features,
                "out_features": module.out_features, "bias": module.bias is not None}
    if isinstance(module, nn.Conv2d):
        if module.groups != 1 or _square(module.dilation, "dilation", where) != 1:
            raise ValueError(f"{where}: groups={module.groups}, dilation={module.dilation} are not supported; expected 1 and 1")
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            raise ValueError(f"{where}: padding={module.padding!r}, padding_mode={module.padding_mode!r} are not supported; "
                             "expected integer zero padding")
        return {"type": "conv2d", "name": name, "in_channels": module.in_channels, "out_channels": module.out_channels,
                "kernel_size": _square(module.kernel_size, "kernel_size", where),
                "stride": _square(module.stride, "stride", where),
                "padding": _square(module.padding, "padding", where), "bias": module.bias is not None}
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        if _square(module.padding, "padding", where) != 0 or module.ceil_mode:
            raise ValueError(f"{where}: padding={module.padding}, ceil_mode={module.ceil_mode} are not supported; expected 0 and False")
        if isinstance(module, nn.MaxPool2d) and (_square(module.dilation, "dilation", where) != 1 or module.return_indices):
            raise ValueError(f"{where}: dilation={module.dilation}, return_indices={module.return_indices} are not supported")
        if isinstance(module, nn.AvgPool2d) and module.divisor_override is not None:
            raise ValueError(f"{where}: divisor_override={module.divisor_override} is not supported")
        kernel = _square(module.kernel_size, "kernel_size", where)
        stride = kernel if module.stride is None else _square(module.stride, "stride", where)
        return {"type": "maxpool2d" if isinstance(module, nn.MaxPool2d) else "avgpool2d", "kernel_size": kernel, "stride": stride}
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise ValueError(f"{where}: start_dim={module.start_dim}, end_dim={module.end_dim} are not supported; expected 1 and -1")
        return {"type": "flatten"}
    if isinstance(module, nn.GELU):
        if module.approximate != "none":
            raise ValueError(f"{where}: approximate={module.approximate!r} is not supported; expected 'none' (the erf form)")
        return {"type": "gelu"}
    for cls, kind in ((nn.ReLU, "relu"), (nn.Tanh, "tanh"), (nn.Sigmoid, "sigmoid")):
        if type(module) is cls:
            return {"type": kind}
    if type(module) is nn.Identity:
        return None
    raise ValueError(f"{where} is not supported; supported modules: Linear, Conv2d, ReLU, Tanh, Sigmoid, GELU, "
                     "Flatten, MaxPool2d, AvgPool2d, Identity (for other graphs export ONNX with torch.onnx.export)")


def _loss(loss):
    """The model.json "loss" entry."""
    where = f"loss {type(loss).__name__}"
    if isinstance(loss, nn.CrossEntropyLoss):
        if loss.weight is not None or loss.label_smoothing != 0:
            raise ValueError(f"{where}: class weights and label smoothing are not supported")
        kind = "cross_entropy"
    elif isinstance(loss, nn.BCEWithLogitsLoss):
        if loss.weight is not None or loss.pos_weight is not None:
            raise ValueError(f"{where}: weight and pos_weight are not supported")
        kind = "bce_with_logits"
    elif type(loss) is nn.MSELoss:
        kind = "mse"
    else:
        raise ValueError(f"{where} is not supported; expected nn.CrossEntropyLoss, nn.MSELoss or nn.BCEWithLogitsLoss")
    if loss.reduction not in ("mean", "sum"):
        raise ValueError(f"{where}: reduction={loss.reduction!r} is not supported; expected 'mean' or 'sum'")
    return {"type": kind, "reduction": loss.reduction}


def export(model, loss, x, y, out_dir):
    """Write model.json, weights.safetensors and data.safetensors for `model` (an nn.Sequential), `loss` and the
    data set (x [N, *input_shape], y) into out_dir (created if needed). Returns the three paths.

    Everything is checked before anything is written: the modules and the loss are supported, the layers run
    on x, and y fits the loss (int64 class indices in range for cross-entropy, else the output's shape)."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model {type(model).__name__} is not supported; expected an nn.Sequential "
                         "(for other graphs export ONNX with torch.onnx.export)")
    layers = [entry for entry in (_layer(name, m) for name, m in model.named_children()) if entry is not None]
    if not layers:
        raise ValueError("the nn.Sequential has no layers")
    loss_entry = _loss(loss)
    if not torch.is_tensor(x) or not torch.is_tensor(y):
        raise ValueError(f"x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.dim() < 2 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor [N, *input_shape], got {x.dtype} of shape {list(x.shape)}")
    state = model.state_dict()
    params = dict(model.named_parameters())
    if list(state) != list(params):
        extra = [k for k in state if k not in params]
        raise ValueError(f"the model has buffers {extra}; only parameters are exported")
    dtype = next(iter(params.values())).dtype if params else x.dtype
    with torch.no_grad():
        out = model(x.to(dtype))
    n = x.shape[0]
    if loss_entry["type"] == "cross_entropy":
        if y.dtype != torch.int64 or list(y.shape) != [n]:
            raise ValueError(f"cross-entropy targets must be int64 class indices of shape [{n}], got {y.dtype} {list(y.shape)}")
        if out.dim() != 2:
            raise ValueError(f"cross-entropy needs logits [N, C], but the model produces {list(out.shape)}")
        if n and (int(y.min()) < 0 or int(y.max()) >= out.shape[1]):
            raise ValueError(f"class indices must be in [0, {out.shape[1]}), got [{int(y.min())}, {int(y.max())}]")
    elif not y.is_floating_point() or y.shape != out.shape:
        raise ValueError(f"targets must be a float tensor of the output's shape {list(out.shape)}, got {y.dtype} {list(y.shape)}")

    spec = {"input_shape": list(x.shape[1:]), "layers": layers, "loss": loss_entry}
    os.makedirs(out_dir, exist_ok=True)
    meta = {"generator": "tools/export_model.py", "torch_version": torch.__version__}
    paths = [os.path.join(out_dir, f) for f in ("model.json", "weights.safetensors", "data.safetensors")]
    with open(paths[0], "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    write_safetensors(paths[1], {k: v.detach() for k, v in state.items()}, meta)
    write_safetensors(paths[2], {"x": x.detach(), "y": y.detach()}, meta)
    return paths
