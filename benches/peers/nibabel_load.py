#!/usr/bin/env python3
"""The peer for benches/brats_io.rs: nibabel on the same files, on the same machine.

    pip install nibabel numpy
    python3 benches/peers/nibabel_load.py target/bench-data/Phantom_00000

Prints the median of 20 runs (after one warm-up) of `nib.load(f).get_fdata()` for the FLAIR
file, and of loading all four modalities plus the segmentation (as CasePaths::load does).
"""
import glob
import statistics
import sys
import time

import nibabel as nib


def median_time(fn, runs=20):
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


case = sys.argv[1]
flair = glob.glob(f"{case}/*_flair.nii.gz")[0]
mods = [glob.glob(f"{case}/*_{m}.nii.gz")[0] for m in ("flair", "t1", "t1ce", "t2")]
seg = glob.glob(f"{case}/*_seg.nii.gz")[0]
print(f"nibabel {nib.__version__}")
print(f"load_int16_nii_gz_240x240x155  {median_time(lambda: nib.load(flair).get_fdata()) * 1e3:.1f} ms")
print(f"load_case_4_modalities_and_seg {median_time(lambda: [nib.load(m).get_fdata() for m in mods + [seg]]) * 1e3:.1f} ms")
