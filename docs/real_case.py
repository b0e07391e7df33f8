"""Shared by the offline helpers that run `bts segment` on a case and look at the result
(`mirror_real_case.py`, `degrade_real_case.py`): finding a modality's file, the command
line, running the segmentation, and the components of a mask. Needs numpy, scipy and a
built `bts`."""
import glob
import subprocess
import sys

from scipy import ndimage as ndi


def modality(case, m):
    """The case's `*_<m>.nii.gz` file (m: flair, t1, t1ce, t2); exits naming it if missing."""
    found = [p for p in glob.glob(case + "/*.nii.gz") if p.endswith("_" + m + ".nii.gz")]
    if not found:
        sys.exit(f"{case}: no *_{m}.nii.gz")
    return found[0]


def command_line(doc):
    """(CASE_DIR, BTS, extra `bts segment` options) from `CASE_DIR [BTS] [-- options]`;
    prints `doc` and exits on anything else."""
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        i = args.index("--")
        args, extra = args[:i], args[i + 1 :]
    if not 1 <= len(args) <= 2:
        sys.exit(doc)
    return args[0].rstrip("/"), args[1] if len(args) == 2 else "target/release/bts", extra


def segment(bts, case_dir, out, extra):
    """Runs `bts segment -q` on a case folder, writing the label map to `out`."""
    subprocess.run(
        [bts, "segment", "-q", "--case", case_dir, "--out", out, *extra],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def components_cm3(mask, over=100):
    """Sizes of the mask's connected components of more than `over` voxels, in cm3 (1 mm
    voxels), largest first, to one decimal."""
    lab, n = ndi.label(mask)
    sizes = sorted(ndi.sum(mask, lab, range(1, n + 1)), reverse=True)
    return [round(float(c) / 1000, 1) for c in sizes if c > over]

