#!/usr/bin/env python3
"""The peer for the per-op benches: PyTorch (CPU, 2 threads) on the shapes of
`cargo bench --bench unet3d` — 3×3×3 'same' convolutions without bias (1×4→16×64³,
1×16→16×64³, 1×32→32×32³, 1×128→128×8³), the 2×2×2 stride-2 transposed convolution
1×256→128×4³ and 2×2×2 max pooling of 1×16×64³, each forward and forward + backward
(`y.sum().backward()`, gradients for input and weight as in the Rust bench).

    pip install torch
    python3 benches/peers/torch_ops.py [--repeat 10] [--path default best]

Two configurations (`--path`, both by default): `default` is `F.conv3d` etc. on NCDHW
tensors; `best` runs every convolution through oneDNN (`torch.mkldnn_convolution`) on
`channels_last_3d` input and weight — PyTorch's fastest CPU path for these shapes — and the
transposed convolution and pooling on channels-last tensors too. Also the 64-channel 16³
convolution of the network's third level (`conv3d_1x64to64_16`).

Prints one JSON line per op, mode and path with the median time in milliseconds; the bench
names match criterion's (`unet3d/<name>`).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--repeat", type=int, default=10)
ap.add_argument("--path", nargs="+", choices=["default", "best"], default=["default", "best"])
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


CL = torch.channels_last_3d


def report(path, name, x_shape, w_shape, op):
    x = torch.randn(*x_shape)
    w = torch.randn(*w_shape) if w_shape else None
    if path == "best":
        x = x.contiguous(memory_format=CL)
        w = w.contiguous(memory_format=CL) if w is not None else None

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

    for mode, fn in (("forward", fwd), ("forward_backward", fwd_bwd)):
        print(json.dumps({"path": path, "op": f"unet3d/{name}_{mode}", "median_ms": median_ms(fn, a.repeat)}))


for path in a.path:
    if path == "best":
        conv = lambda x, w: torch.mkldnn_convolution(x, w, None, [1, 1, 1], [1, 1, 1], [1, 1, 1], 1)
    else:
        conv = lambda x, w: F.conv3d(x, w, padding=1)
    report(path, "conv3d_1x4to16_64", (1, 4, 64, 64, 64), (16, 4, 3, 3, 3), conv)
    report(path, "conv3d_1x16to16_64", (1, 16, 64, 64, 64), (16, 16, 3, 3, 3), conv)
    report(path, "conv3d_1x32to32_32", (1, 32, 32, 32, 32), (32, 32, 3, 3, 3), conv)
    report(path, "conv3d_1x64to64_16", (1, 64, 16, 16, 16), (64, 64, 3, 3, 3), conv)
    report(path, "conv3d_1x128to128_8", (1, 128, 8, 8, 8), (128, 128, 3, 3, 3), conv)
    report(path, "conv_transpose3d_1x256to128_4", (1, 256, 4, 4, 4), (256, 128, 2, 2, 2),
           lambda x, w: F.conv_transpose3d(x, w, stride=2))
    report(path, "max_pool3d_1x16_64", (1, 16, 64, 64, 64), None, lambda x, w: F.max_pool3d(x, 2))
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}))
