//! Storage orientation: which world direction each voxel axis of a grid points to, and the
//! lossless permutation and flips that store a case in another order and back.
//!
//! The same head can be stored with its voxel axes in any of 48 orders (BraTS stores `LPS`,
//! many converters `RAS`, a sagittal acquisition `PSL` or the like). A network only ever sees
//! arrays, so a model trained on one storage order meets a rotated or mirrored head in
//! another. [`Reorientation`] turns a grid into a chosen [`Orientation`] with axis
//! permutations and flips only — no interpolation, every voxel kept — and turns a map on
//! the reoriented grid back, exactly.
//!
//! ```
//! use brats_io::preprocess::orient::{Orientation, Reorientation};
//! use brats_io::Geometry;
//! use ndarray::Array3;
//! # fn main() -> brats_io::Result<()> {
//! let ras = Geometry::from_spacing([4, 3, 2], [1.0, 1.0, 1.0])?; // (i, j, k) = R, A, S
//! let to_lps = Reorientation::new(&ras, "LPS".parse()?)?;
//! assert_eq!(to_lps.grid().orientation(), "LPS");
//! let a = Array3::from_shape_fn([2, 3, 4], |(k, j, i)| (100 * k + 10 * j + i) as u16);
//! let lps = to_lps.view(a.view()).to_owned();
//! assert_eq!(lps[[0, 0, 0]], a[[0, 2, 3]]); // the left-posterior-inferior corner
//! assert_eq!(to_lps.undo(lps.view())?, a);
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

use ndarray::{Array3, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::volume::Geometry;

/// A storage orientation: for the voxel axes `(i, j, k)`, the world direction each points
/// to, one letter per axis from `R`/`L`, `A`/`P` and `S`/`I`, each pair used once (as
/// nibabel's axis codes: `"RAS"`, `"LPS"`, `"PSL"`…). Written in JSON as that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Orientation([u8; 3]);

impl Orientation {
    /// BraTS's own storage order: `i` to the patient's left, `j` posterior, `k` superior.
    pub const LPS: Orientation = Orientation(*b"LPS");

    /// The orientation a grid is stored in ([`Geometry::orientation`]).
    ///
    /// # Errors
    /// [`Error::Config`] if the grid's affine gives no valid code (not expected for a
    /// [`Geometry`], which is never singular).
    pub fn of(geometry: &Geometry) -> Result<Orientation> {
        geometry.orientation().parse()
    }

    /// For each voxel axis, the world axis it runs along (0 x, 1 y, 2 z) and whether it runs
    /// the positive (R, A, S) way.
    fn axes(self) -> [(usize, bool); 3] {
        self.0.map(|c| match c {
            b'R' => (0, true),
            b'L' => (0, false),
            b'A' => (1, true),
            b'P' => (1, false),
            b'S' => (2, true),
            // ok: the constructor admits only the six letters.
            _ => (2, false),
        })
    }
}

impl FromStr for Orientation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Orientation> {
        let bad = |why: &str| {
            Error::config(
                "orientation",
                format!("{why}: need three letters, one of R/L, A/P and S/I each (e.g. \"LPS\"), got {s:?}"),
            )
        };
        let upper = s.trim().to_ascii_uppercase();
        let letters: [u8; 3] = upper
            .as_bytes()
            .try_into()
            .map_err(|_| bad("not three letters"))?;
        let mut seen = [false; 3];
        for c in letters {
            let world = match c {
                b'R' | b'L' => 0,
                b'A' | b'P' => 1,
                b'S' | b'I' => 2,
                _ => return Err(bad("unknown letter")),
            };
            if std::mem::replace(&mut seen[world], true) {
                return Err(bad("a direction used twice"));
            }
        }
        Ok(Orientation(letters))
    }
}

impl TryFrom<String> for Orientation {
    type Error = Error;

    fn try_from(s: String) -> Result<Orientation> {
        s.parse()
    }
}

impl From<Orientation> for String {
    fn from(o: Orientation) -> String {
        o.to_string()
    }
}

impl fmt::Display for Orientation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // ok: the letters are ASCII.
        f.write_str(std::str::from_utf8(&self.0).unwrap_or("???"))
    }
}

/// The permutation and flips of voxel axes that store a grid in a target [`Orientation`],
/// and the grid that results. Lossless both ways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reorientation {
    /// For each voxel axis `(i, j, k)` of the reoriented grid, the original voxel axis it
    /// runs along.
    from_axis: [usize; 3],
    /// Whether it runs along that axis backwards.
    flipped: [bool; 3],
    /// The reoriented grid: the same voxels and world positions, stored in the target order.
    grid: Geometry,
}

impl Reorientation {
    /// How to store `from` in the orientation `to`.
    ///
    /// # Errors
    /// [`Error::Config`] only if `from` has no valid orientation code (see
    /// [`Orientation::of`]).
    pub fn new(from: &Geometry, to: Orientation) -> Result<Reorientation> {
        let have = Orientation::of(from)?.axes();
        let want = to.axes();
        let mut from_axis = [0; 3];
        let mut flipped = [false; 3];
        for (t, &(world, positive)) in want.iter().enumerate() {
            // ok: both codes use every world axis once, so the search always succeeds.
            let c = have.iter().position(|&(w, _)| w == world).unwrap_or(t);
            from_axis[t] = c;
            flipped[t] = have[c].1 != positive;
        }
        let a = from.affine();
        let dim = from.dim();
        let mut affine = [[0.0; 4]; 4];
        affine[3][3] = 1.0;
        for r in 0..3 {
            affine[r][3] = a[r][3];
        }
        for (t, (&c, &flip)) in from_axis.iter().zip(&flipped).enumerate() {
            let sign = if flip { -1.0 } else { 1.0 };
            for r in 0..3 {
                affine[r][t] = sign * a[r][c];
                if flip {
                    // The new first voxel is the old last one along this axis.
                    affine[r][3] += a[r][c] * (dim[c] - 1) as f64;
                }
            }
        }
        let grid = Geometry::new(from_axis.map(|c| dim[c]), affine)?;
        Ok(Reorientation {
            from_axis,
            flipped,
            grid,
        })
    }

    /// True when the grid is already stored in the target orientation.
    pub fn is_identity(&self) -> bool {
        self.from_axis == [0, 1, 2] && self.flipped == [false; 3]
    }

    /// The reoriented grid.
    pub fn grid(&self) -> &Geometry {
        &self.grid
    }

    /// An array on the original grid, seen in the target orientation (a view: no copy).
    ///
    /// # Shapes
    /// `a`: the original `[k, j, i]`; result: the reoriented grid's `[k, j, i]` (its
    /// [`Geometry::shape`]). An array of another shape comes back permuted but will not
    /// match the reoriented grid; callers check shapes first.
    pub fn view<'a, T>(&self, a: ArrayView3<'a, T>) -> ArrayView3<'a, T> {
        // Array axis b is voxel axis 2 − b.
        let mut v = a.permuted_axes([0, 1, 2].map(|b| 2 - self.from_axis[2 - b]));
        for b in 0..3 {
            if self.flipped[2 - b] {
                v.invert_axis(Axis(b));
            }
        }
        v
    }

    /// An array on the reoriented grid, back on the original one (a standard-layout copy).
    ///
    /// # Shapes
    /// `a`: the reoriented grid's `[k, j, i]`; result: the original `[k, j, i]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when `a` is not on the reoriented grid.
    pub fn undo<T: Clone>(&self, a: ArrayView3<'_, T>) -> Result<Array3<T>> {
        if a.shape() != self.grid.shape() {
            return Err(Error::shape(
                "array to reorient back",
                format!("{:?} (the reoriented shape)", self.grid.shape()),
                format!("{:?}", a.shape()),
            ));
        }
        let mut v = a;
        for b in 0..3 {
            if self.flipped[2 - b] {
                v.invert_axis(Axis(b));
            }
        }
        // New array axis b came from original array axis 2 − from_axis[2 − b]; invert that.
        let mut back = [0; 3];
        for b in 0..3 {
            back[2 - self.from_axis[2 - b]] = b;
        }
        Ok(v.permuted_axes(back).as_standard_layout().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(affine: [[f64; 4]; 4], dim: [usize; 3]) -> Geometry {
        Geometry::new(dim, affine).unwrap()
    }

    /// Every voxel keeps its world position: reoriented voxel `v` holds what the original
    /// voxel at the same world point held.
    fn check_world_positions(from: &Geometry, r: &Reorientation) {
        let d = from.dim();
        let a = Array3::from_shape_fn([d[2], d[1], d[0]], |(k, j, i)| {
            [i as f64, j as f64, k as f64]
        });
        let v = r.view(a.view());
        assert_eq!(v.shape(), r.grid().shape().as_slice());
        for ((k, j, i), orig) in v.indexed_iter() {
            let here = r.grid().voxel_to_world([i as f64, j as f64, k as f64]);
            let there = from.voxel_to_world(*orig);
            for x in 0..3 {
                assert!((here[x] - there[x]).abs() < 1e-9, "{here:?} vs {there:?}");
            }
        }
        let back = r.undo(v.view()).unwrap();
        assert_eq!(back, a);
        assert!(back.is_standard_layout());
    }

    #[test]
    fn every_storage_order_goes_to_every_other_and_back() {
        let codes = [
            "RAS", "LPS", "LAS", "RPI", "PSL", "SPL", "ASR", "IRP", "SLA", "PIR",
        ];
        let dim = [5, 4, 3];
        // An LPS grid with anisotropic voxels and an offset origin.
        let lps = grid(
            [
                [-0.9, 0.0, 0.0, 120.0],
                [0.0, -1.1, 0.0, 130.0],
                [0.0, 0.0, 3.0, -60.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            dim,
        );
        for from_code in codes {
            let from = Reorientation::new(&lps, from_code.parse().unwrap())
                .unwrap()
                .grid()
                .clone();
            assert_eq!(from.orientation(), from_code);
            for to_code in codes {
                let r = Reorientation::new(&from, to_code.parse().unwrap()).unwrap();
                assert_eq!(r.grid().orientation(), to_code, "{from_code} → {to_code}");
                assert_eq!(r.is_identity(), from_code == to_code);
                // Spacing follows its axis.
                let mut s = r.grid().spacing();
                s.sort_by(f64::total_cmp);
                assert!((s[0] - 0.9).abs() < 1e-12 && (s[2] - 3.0).abs() < 1e-12);
                check_world_positions(&from, &r);
            }
        }
    }

    #[test]
    fn an_oblique_grid_goes_by_its_nearest_axes() {
        // Rotated 20° about z: i still mostly R, j mostly A.
        let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
        let oblique = grid(
            [
                [c, -s, 0.0, 0.0],
                [s, c, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            [6, 5, 4],
        );
        let r = Reorientation::new(&oblique, Orientation::LPS).unwrap();
        assert_eq!(r.grid().orientation(), "LPS");
        check_world_positions(&oblique, &r);
    }

    #[test]
    fn codes_are_checked_and_written_as_text() {
        assert_eq!("lps".parse::<Orientation>().unwrap(), Orientation::LPS);
        for bad in ["", "LP", "LPSX", "LPX", "LLS", "RAR", "ÅPS"] {
            let e = bad.parse::<Orientation>().unwrap_err().to_string();
            assert!(e.contains("orientation") && e.contains("R/L"), "{bad}: {e}");
        }
        let json = serde_json::to_string(&Orientation::LPS).unwrap();
        assert_eq!(json, "\"LPS\"");
        assert_eq!(
            serde_json::from_str::<Orientation>("\"RAS\"")
                .unwrap()
                .to_string(),
            "RAS"
        );
        let e = serde_json::from_str::<Orientation>("\"RAQ\"").unwrap_err();
        assert!(e.to_string().contains("R/L"), "{e}");
    }

    #[test]
    fn undo_checks_the_shape() {
        let g = Geometry::from_spacing([4, 3, 2], [1.0; 3]).unwrap();
        let r = Reorientation::new(&g, "SAR".parse().unwrap()).unwrap();
        let e = r.undo(Array3::<u8>::zeros([2, 3, 4]).view()).unwrap_err();
        assert!(e.to_string().contains("reoriented shape"), "{e}");
    }
}
