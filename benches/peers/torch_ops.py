#!/usr/bin/env python3
"""The peer for the per-op benches: PyTorch (CPU, 2 threads) on the shapes of
`cargo bench --bench unet3d` — 3×3×3 'same' convolutions without bias (1×4→16×64³,
1×16→16×64³, 1×32→32×32³, 1×128→128×8³), the 2×2×2 stride-2 transposed convolution
1×256→128×4³ and 2×2×2 max pooling of 1×16×64³, each forward and forward + backward
(`y.sum().backward()`, gradients for input and weight as in the Rust bench).

    pip install torch
    python3 benches/peers/torch_ops.py [--repeat 10]

Prints one JSON line per op and mode with the median time in milliseconds; the bench names
match criterion's (`unet3d/<name>`).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--repeat", type=int, default=10)
a = ap.parse_args()
torch.set_num_threads(2)
torch.manual_seed(0)


def median_ms(fn, n):
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1e3, 3)


def report(name, x_shape, w_shape, op):
    x = torch.randn(*x_shape)
    w = torch.randn(*w_shape) if w_shape else None

    def fwd():
        with torch.no_grad():
            op(x, w)

    xv = x.clone().requires_grad_(True)
    wv = w.clone().requires_grad_(True) if w is not None else None

    def fwd_bwd():
        xv.grad = None
        if wv is not None:
            wv.grad = None
        op(xv, wv).sum().backward()

    print(json.dumps({"op": f"unet3d/{name}_forward", "median_ms": median_ms(fwd, a.repeat)}))
    print(json.dumps({"op": f"unet3d/{name}_forward_backward", "median_ms": median_ms(fwd_bwd, a.repeat)}))


conv = lambda x, w: F.conv3d(x, w, padding=1)
report("conv3d_1x4to16_64", (1, 4, 64, 64, 64), (16, 4, 3, 3, 3), conv)
report("conv3d_1x16to16_64", (1, 16, 64, 64, 64), (16, 16, 3, 3, 3), conv)
report("conv3d_1x32to32_32", (1, 32, 32, 32, 32), (32, 32, 3, 3, 3), conv)
report("conv3d_1x128to128_8", (1, 128, 8, 8, 8), (128, 128, 3, 3, 3), conv)
report("conv_transpose3d_1x256to128_4", (1, 256, 4, 4, 4), (256, 128, 2, 2, 2),
       lambda x, w: F.conv_transpose3d(x, w, stride=2))
report("max_pool3d_1x16_64", (1, 16, 64, 64, 64), None, lambda x, w: F.max_pool3d(x, 2))
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}))
