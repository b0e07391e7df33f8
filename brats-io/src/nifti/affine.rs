//! Orientation: the sform or the qform (quaternion, `qfac`) of a header as a RAS+ affine
//! in millimetres, and a rotation back to a quaternion for writing.

use std::path::Path;

use crate::error::{Error, Result};
use crate::volume::Geometry;

/// Millimetres per unit of `xyzt_units` (NIfTI: 1 metre, 2 mm, 3 µm; 0 unknown → mm).
fn unit_scale(xyzt_units: u8) -> f64 {
    match xyzt_units & 0x07 {
        1 => 1000.0,
        3 => 0.001,
        _ => 1.0,
    }
}

pub(crate) fn geometry_from_header(
    path: &Path,
    h: &::nifti::NiftiHeader,
    dim: [usize; 3],
) -> Result<(Geometry, &'static str)> {
    let scale = unit_scale(h.xyzt_units);
    let pix = [h.pixdim[1], h.pixdim[2], h.pixdim[3]].map(|p| {
        let p = f64::from(p);
        if p.is_finite() && p > 0.0 {
            p
        } else {
            1.0
        }
    });
    let (mut affine, source) = if h.sform_code > 0 {
        let r = [h.srow_x, h.srow_y, h.srow_z];
        let mut a = [[0.0; 4]; 4];
        for (row, src) in a.iter_mut().zip(r.iter()) {
            for (v, s) in row.iter_mut().zip(src.iter()) {
                *v = f64::from(*s);
            }
        }
        a[3] = [0.0, 0.0, 0.0, 1.0];
        (a, "sform")
    } else if h.qform_code > 0 {
        (qform_affine(h, pix), "qform")
    } else {
        // NIfTI "method 1": spacing only, no orientation.
        (
            [
                [pix[0], 0.0, 0.0, 0.0],
                [0.0, pix[1], 0.0, 0.0],
                [0.0, 0.0, pix[2], 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            "spacing",
        )
    };
    for row in affine.iter_mut().take(3) {
        for v in row.iter_mut() {
            *v *= scale;
        }
    }
    let geometry = Geometry::new(dim, affine)
        .map_err(|e| Error::invalid(path, format!("{source} affine: {e}")))?;
    Ok((geometry, source))
}

/// NIfTI "method 2": the qform quaternion, `qfac` and `pixdim`, as in `nifti1_io.c`.
fn qform_affine(h: &::nifti::NiftiHeader, pix: [f64; 3]) -> [[f64; 4]; 4] {
    let (b, c, d) = (
        f64::from(h.quatern_b),
        f64::from(h.quatern_c),
        f64::from(h.quatern_d),
    );
    let a2 = 1.0 - (b * b + c * c + d * d);
    let a = if a2 < 1e-7 {
        // Numerically a 180° rotation: renormalise (b, c, d) as nifti1_io does.
        let n = (b * b + c * c + d * d).sqrt();
        let (b, c, d) = (b / n, c / n, d / n);
        return qform_from(0.0, b, c, d, h, pix);
    } else {
        a2.sqrt()
    };
    qform_from(a, b, c, d, h, pix)
}

fn qform_from(
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    h: &::nifti::NiftiHeader,
    pix: [f64; 3],
) -> [[f64; 4]; 4] {
    let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let r = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ];
    let zoom = [pix[0], pix[1], pix[2] * qfac];
    let t = [
        f64::from(h.quatern_x),
        f64::from(h.quatern_y),
        f64::from(h.quatern_z),
    ];
    let mut out = [[0.0; 4]; 4];
    for i in 0..3 {
        for j in 0..3 {
            out[i][j] = r[i][j] * zoom[j];
        }
        out[i][3] = t[i];
    }
    out[3] = [0.0, 0.0, 0.0, 1.0];
    out
}

/// Quaternion `(a, b, c, d)` of a proper rotation matrix (Shepperd's method).
pub(crate) fn rotation_to_quaternion(r: &[[f64; 3]; 3]) -> (f64, f64, f64, f64) {
    let trace = r[0][0] + r[1][1] + r[2][2];
    if trace > 0.0 {
        let s = 0.5 / (trace + 1.0).sqrt();
        (
            0.25 / s,
            (r[2][1] - r[1][2]) * s,
            (r[0][2] - r[2][0]) * s,
            (r[1][0] - r[0][1]) * s,
        )
    } else if r[0][0] > r[1][1] && r[0][0] > r[2][2] {
        let s = 2.0 * (1.0 + r[0][0] - r[1][1] - r[2][2]).sqrt();
        (
            (r[2][1] - r[1][2]) / s,
            0.25 * s,
            (r[0][1] + r[1][0]) / s,
            (r[0][2] + r[2][0]) / s,
        )
    } else if r[1][1] > r[2][2] {
        let s = 2.0 * (1.0 + r[1][1] - r[0][0] - r[2][2]).sqrt();
        (
            (r[0][2] - r[2][0]) / s,
            (r[0][1] + r[1][0]) / s,
            0.25 * s,
            (r[1][2] + r[2][1]) / s,
        )
    } else {
        let s = 2.0 * (1.0 + r[2][2] - r[0][0] - r[1][1]).sqrt();
        (
            (r[1][0] - r[0][1]) / s,
            (r[0][2] + r[2][0]) / s,
            (r[1][2] + r[2][1]) / s,
            0.25 * s,
        )
    }
}
