"""Minimal, dependency-free safetensors and .npy writers/readers (numpy only).

safetensors layout (https://github.com/huggingface/safetensors):
    [8 bytes]  little-endian u64 N = header length
    [N bytes]  UTF-8 JSON header, padded with spaces so that N % 8 == 0:
               {"<name>": {"dtype": "F32"|"F64"|"I64", "shape": [...],
                           "data_offsets": [begin, end]}, ...,
                "__metadata__": {"<str>": "<str>"}}
    [...]      raw little-endian C-order tensor data; offsets are relative to
               the start of this section; tensors are stored contiguously in
               header (= insertion) order, with no gaps.

.npy: format version 1.0, header padded so that the data starts at a multiple
of 64 bytes (as numpy itself does).

Both writers are byte-for-byte deterministic for identical inputs.
"""

import json
import os
import struct

import numpy as np

_DTYPES = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _to_numpy(t):
    """Accept numpy arrays, torch tensors, or Python scalars/lists."""
    if hasattr(t, "detach"):  # torch.Tensor, without importing torch here
        t = t.detach().cpu().numpy()
    return np.asarray(t)


def _canonical(a):
    a = _to_numpy(a)
    if a.dtype.kind == "f" and a.dtype.itemsize == 4:
        dt = _DTYPES["F32"]
    elif a.dtype.kind == "f" and a.dtype.itemsize == 8:
        dt = _DTYPES["F64"]
    elif a.dtype.kind in "iu":
        dt = _DTYPES["I64"]
    else:
        raise TypeError(f"unsupported dtype {a.dtype} (only float32, float64, int64)")
    return np.ascontiguousarray(a.astype(dt, copy=False))


def write_safetensors(path, tensors, metadata=None):
    """Write an ordered mapping name -> array to `path`.

    Tensors are laid out in the mapping's iteration order. `metadata` values
    are converted to str (safetensors requires str -> str). Parent
    directories are created.
    """
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        a = _canonical(t)
        raw = a.tobytes(order="C")
        header[name] = {
            "dtype": _NAMES[a.dtype],
            "shape": [int(s) for s in a.shape],
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Return (dict name -> numpy array, metadata dict). Validates layout."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = memoryview(buf)[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    expected = 0
    for name, info in header.items():
        dt = _DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        if b != expected:
            raise ValueError(f"{path}: tensor {name} not contiguous ({b} != {expected})")
        count = int(np.prod(info["shape"], dtype=np.int64))
        if e - b != count * dt.itemsize:
            raise ValueError(f"{path}: tensor {name} size mismatch")
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"]).copy()
        expected = e
    if expected != len(data):
        raise ValueError(f"{path}: trailing bytes after tensor data")
    return out, meta


def write_npy(path, arr):
    """Write `arr` as .npy format 1.0, C order, little-endian ('<f8', '<f4', '<i8')."""
    a = _canonical(arr)
    descr = a.dtype.str  # e.g. '<f8'
    shape = tuple(int(s) for s in a.shape)
    shape_repr = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_repr)
    # magic(6) + version(2) + u16 len(2) + header + '\n' must be a multiple of 64
    total = 10 + len(h) + 1
    h += " " * ((-total) % 64) + "\n"
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00")
        f.write(struct.pack("<H", len(h)))
        f.write(h.encode("latin1"))
        f.write(a.tobytes(order="C"))
