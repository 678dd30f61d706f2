#!/usr/bin/python3
"""Write data/digits.safetensors from sklearn's load_digits.

    x: F32 [1797, 64]  pixel / 16  (pixels are integers 0..16; row-major 8x8)
    y: I64 [1797]      class label 0..9

Sample order is sklearn's (no shuffling). Deterministic.

Usage (repo root):  /usr/bin/python3 tools/make_digits.py [--out data/digits.safetensors]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_io import read_safetensors, write_safetensors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "data", "digits.safetensors"))
    args = ap.parse_args()

    import sklearn
    from sklearn.datasets import load_digits

    d = load_digits()
    pix = np.asarray(d.data, dtype=np.float64)
    assert pix.shape == (1797, 64), pix.shape
    assert pix.min() >= 0 and pix.max() <= 16 and np.all(pix == np.round(pix))
    x = (pix / 16.0).astype(np.float32)  # exact: k/16 is representable in F32
    y = np.asarray(d.target, dtype=np.int64)
    assert set(np.unique(y).tolist()) == set(range(10))

    meta = {
        "source": "sklearn.datasets.load_digits (UCI ML optical recognition of handwritten digits, test set)",
        "sklearn_version": sklearn.__version__,
        "n_samples": str(x.shape[0]),
        "n_features": "64",
        "n_classes": "10",
        "image_shape": "[8, 8]",
        "layout": "x[i, 8*r + c] = pixel at row r, column c (row-major 8x8), sklearn sample order, unshuffled",
        "scaling": "x = pixel / 16, pixels are integers in 0..16, so x in [0, 1]",
        "y": "class label 0..9 (int64)",
        "generator": "tools/make_digits.py",
    }
    write_safetensors(args.out, {"x": x, "y": y}, meta)

    t, m = read_safetensors(args.out)
    assert np.array_equal(t["x"], x) and np.array_equal(t["y"], y) and m == meta
    counts = np.bincount(y, minlength=10).tolist()
    print(f"wrote {args.out}: x {t['x'].dtype} {t['x'].shape}, y {t['y'].dtype} {t['y'].shape}, "
          f"class counts {counts}, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
