//! Registration of the built-in atlas to a case outside SRI24 space: known transforms of
//! the atlas's own brain are recovered within 2 mm and 2°, and a brain it cannot fit is
//! reported as such.

use brats_io::{Case, Volume};
use diagnosis::register::{register_masks, AffineMap};
use diagnosis::{Atlas, Diagnoser};
use ndarray::Array3;
use symptom_kb::KnowledgeBase;

/// Rotation about axis `a` by `deg`, scaled per axis, with a shift: the map from case world
/// to atlas world about the point `c`.
fn true_map(deg: [f64; 3], scale: [f64; 3], shift: [f64; 3], c: [f64; 3]) -> AffineMap {
    let rot = |a: usize, t: f64| {
        let (u, v) = ((a + 1) % 3, (a + 2) % 3);
        let mut m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        m[u][u] = t.cos();
        m[v][v] = t.cos();
        m[u][v] = -t.sin();
        m[v][u] = t.sin();
        m
    };
    let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| {
        let mut m = [[0.0; 3]; 3];
        for r in 0..3 {
            for q in 0..3 {
                m[r][q] = (0..3).map(|t| a[r][t] * b[t][q]).sum();
            }
        }
        m
    };
    let mut m = mul(
        mul(rot(0, deg[0].to_radians()), rot(1, deg[1].to_radians())),
        rot(2, deg[2].to_radians()),
    );
    for row in m.iter_mut() {
        for (q, v) in row.iter_mut().enumerate() {
            *v *= scale[q];
        }
    }
    let mut offset = [0.0; 3];
    for a in 0..3 {
        offset[a] = c[a] + shift[a] - (0..3).map(|b| m[a][b] * c[b]).sum::<f64>();
    }
    AffineMap { matrix: m, offset }
}

/// The atlas brain as a case, seen through `map` (case world → atlas world).
fn warped_case(map: &AffineMap) -> (Case, Array3<bool>) {
    let atlas = Atlas::sri24().unwrap();
    let (brain, grid) = atlas.brain();
    let (nk, nj, ni) = brain.dim();
    let warped = Array3::from_shape_fn((nk, nj, ni), |(k, j, i)| {
        let y = map.apply(grid.voxel_to_world([i as f64, j as f64, k as f64]));
        let v = grid.world_to_voxel(y).map(f64::round);
        v.iter().all(|&x| x >= 0.0)
            && (v[0] as usize) < ni
            && (v[1] as usize) < nj
            && (v[2] as usize) < nk
            && brain[[v[2] as usize, v[1] as usize, v[0] as usize]]
    });
    let img = Volume::new(
        warped.mapv(|b| if b { 100.0f32 } else { 0.0 }),
        grid.clone(),
    )
    .unwrap();
    (
        Case {
            id: "warped".into(),
            images: [img.clone(), img.clone(), img.clone(), img],
            seg: None,
            seg_scheme: None,
        },
        warped,
    )
}

#[test]
fn known_transforms_are_recovered_within_2_mm_and_2_degrees() {
    let atlas = Atlas::sri24().unwrap();
    let (atlas_brain, grid) = atlas.brain();
    let centre = grid.voxel_to_world([119.0, 120.0, 70.0]);
    for (deg, scale, shift) in [
        ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [20.0, -15.0, 10.0]),
        ([0.0, 0.0, 15.0], [1.0, 1.0, 1.0], [5.0, 0.0, -5.0]),
        ([12.0, -8.0, 0.0], [1.1, 0.92, 1.05], [-8.0, 6.0, 0.0]),
    ] {
        let truth = true_map(deg, scale, shift, centre);
        let (case, brain) = warped_case(&truth);
        let est = register_masks(&brain, case.geometry(), &atlas_brain, grid).unwrap();
        // Mean and largest distance between where the two maps send brain points.
        let (mut sum, mut max, mut n) = (0.0f64, 0.0f64, 0.0f64);
        for ((k, j, i), &b) in brain.indexed_iter() {
            if b && (k + j + i) % 7 == 0 {
                let x = case
                    .geometry()
                    .voxel_to_world([i as f64, j as f64, k as f64]);
                let (p, q) = (truth.apply(x), est.apply(x));
                let d = (0..3).map(|a| (p[a] - q[a]).powi(2)).sum::<f64>().sqrt();
                sum += d;
                max = max.max(d);
                n += 1.0;
            }
        }
        let mean = sum / n;
        assert!(
            mean <= 2.0,
            "{deg:?} {scale:?} {shift:?}: mean error {mean:.2} mm (max {max:.2})"
        );
        // Directions of the axes agree within 2°.
        for a in 0..3 {
            let col = |m: &AffineMap| [m.matrix[0][a], m.matrix[1][a], m.matrix[2][a]];
            let (u, v) = (col(&truth), col(&est));
            let dot: f64 = (0..3).map(|x| u[x] * v[x]).sum();
            let nu = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let angle = (dot / (nu * nv)).clamp(-1.0, 1.0).acos().to_degrees();
            assert!(angle <= 2.0, "{deg:?}: axis {a} off by {angle:.2}°");
        }
        // Through the diagnoser: the registered atlas is used, and says how.
        let dir = tempfile::tempdir().unwrap();
        let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
        let g = Diagnoser::new(&kb).atlas_for(&case).unwrap();
        assert!(
            g.name.contains("affine registration") || g.name.contains("BraTS/SRI24 space"),
            "{}",
            g.name
        );
    }
}

#[test]
fn a_brain_the_atlas_cannot_fit_is_reported() {
    // A ball is no brain: no registration fits it well enough.
    let atlas = Atlas::sri24().unwrap();
    let (_, grid) = atlas.brain();
    let ball = Array3::from_shape_fn((155, 240, 240), |(k, j, i)| {
        let d = (k as f64 - 70.0).powi(2) + (j as f64 - 120.0).powi(2) + (i as f64 - 120.0).powi(2);
        d < 35.0 * 35.0
    });
    let img = Volume::new(ball.mapv(|b| if b { 100.0f32 } else { 0.0 }), grid.clone()).unwrap();
    let case = Case {
        id: "ball".into(),
        images: [img.clone(), img.clone(), img.clone(), img],
        seg: None,
        seg_scheme: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    let g = Diagnoser::new(&kb).atlas_for(&case).unwrap();
    assert!(
        g.name.contains("WARNING") && g.name.contains("proportional"),
        "{}",
        g.name
    );
}
