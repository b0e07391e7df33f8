//! Files written by nibabel read back with the values, shape and affine nibabel reports
//! (fixtures and the script that made them: tests/fixtures/).

use std::path::{Path, PathBuf};

use brats_io::{Datatype, NiftiReader, NiftiWriter};
use serde::Deserialize;

#[derive(Deserialize)]
struct Facts {
    shape: [usize; 3],
    affine: [[f64; 4]; 4],
    datatype: String,
    orientation: String,
    values: Vec<f64>,
}

fn fixtures() -> Vec<(PathBuf, Facts)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nibabel");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".nii") || name.ends_with(".nii.gz") {
            let stem = name.trim_end_matches(".gz").trim_end_matches(".nii");
            let facts: Facts =
                serde_json::from_slice(&std::fs::read(dir.join(format!("{stem}.json"))).unwrap())
                    .unwrap();
            out.push((path, facts));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 9, "all nine fixtures present");
    out
}

/// f32 holds these values to ~7 significant digits; nibabel computes in f64.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn values_shape_affine_and_orientation_match_nibabel() {
    for (path, facts) in fixtures() {
        let info = NiftiReader::new().read_info(&path).unwrap();
        assert_eq!(info.datatype.name(), facts.datatype, "{}", path.display());
        let vol = NiftiReader::new().read_f32(&path).unwrap();
        let g = vol.geometry();
        assert_eq!(g.dim(), facts.shape, "{}", path.display());
        assert_eq!(
            vol.data().shape(),
            [facts.shape[2], facts.shape[1], facts.shape[0]]
        );
        for r in 0..4 {
            for c in 0..4 {
                assert!(
                    (g.affine()[r][c] - facts.affine[r][c]).abs() < 1e-5,
                    "{} affine[{r}][{c}]: {} vs nibabel {}",
                    path.display(),
                    g.affine()[r][c],
                    facts.affine[r][c]
                );
            }
        }
        assert_eq!(g.orientation(), facts.orientation, "{}", path.display());
        assert_eq!(vol.as_slice().len(), facts.values.len());
        for (n, (ours, theirs)) in vol.as_slice().iter().zip(&facts.values).enumerate() {
            assert!(
                close(f64::from(*ours), *theirs),
                "{} voxel {n}: {ours} vs nibabel {theirs}",
                path.display()
            );
        }
    }
}

#[test]
fn scaling_is_applied_like_nibabel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nibabel");
    let info = NiftiReader::new()
        .read_info(dir.join("int16_scaled_ras.nii.gz"))
        .unwrap();
    assert_eq!(info.datatype, Datatype::Int16);
    assert_eq!((info.scl_slope, info.scl_inter), (2.0, 10.0));
    // Every scaled value is 2·raw + 10, so even.
    let vol = NiftiReader::new()
        .read_f32(dir.join("int16_scaled_ras.nii.gz"))
        .unwrap();
    assert!(vol.as_slice().iter().all(|v| (v - 10.0) % 2.0 == 0.0));
}

#[test]
fn qform_only_file_uses_the_qform() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nibabel");
    let info = NiftiReader::new()
        .read_info(dir.join("uint16_oblique_qform.nii.gz"))
        .unwrap();
    assert_eq!(info.affine_source, "qform");
    assert_eq!(info.header.sform_code, 0);
}

#[test]
fn labels_read_as_u8() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nibabel");
    for (name, allowed) in [
        ("uint8_labels_ras.nii.gz", [0u8, 1, 2, 4]),
        ("uint8_labels_lps.nii", [0, 1, 2, 3]),
    ] {
        let seg = NiftiReader::new().read_labels(dir.join(name)).unwrap();
        assert!(seg.as_slice().iter().all(|v| allowed.contains(v)), "{name}");
    }
}

#[test]
fn written_mask_keeps_the_reference_header() {
    let tmp = tempfile::tempdir().unwrap();
    for (path, facts) in fixtures() {
        let reader = NiftiReader::new();
        let vol = reader.read_f32(&path).unwrap();
        let src = reader.read_info(&path).unwrap().header;
        let mask = vol.map(|v| u8::from(*v > 0.0));
        for ext in ["nii", "nii.gz"] {
            let out = tmp.path().join(format!("mask.{ext}"));
            NiftiWriter::new().write(&out, &mask).unwrap();
            let back_info = reader.read_info(&out).unwrap();
            let h = &back_info.header;
            assert_eq!(back_info.datatype, Datatype::Uint8);
            assert_eq!(
                (h.sform_code, h.qform_code),
                (src.sform_code, src.qform_code)
            );
            assert_eq!(
                (h.srow_x, h.srow_y, h.srow_z),
                (src.srow_x, src.srow_y, src.srow_z)
            );
            assert_eq!(
                (
                    h.quatern_b,
                    h.quatern_c,
                    h.quatern_d,
                    h.quatern_x,
                    h.quatern_y,
                    h.quatern_z
                ),
                (
                    src.quatern_b,
                    src.quatern_c,
                    src.quatern_d,
                    src.quatern_x,
                    src.quatern_y,
                    src.quatern_z
                )
            );
            assert_eq!(h.pixdim[..4], src.pixdim[..4]);
            assert_eq!((h.scl_slope, h.scl_inter), (1.0, 0.0));
            let back = reader.read_labels(&out).unwrap();
            assert_eq!(back.data(), mask.data(), "{}", path.display());
            assert_eq!(back.geometry().dim(), facts.shape);
            assert!(back.geometry().max_affine_difference(vol.geometry()) < 1e-6);
        }
    }
}

#[derive(Deserialize)]
struct FramesFacts {
    shape: [usize; 4],
    affine: [[f64; 4]; 4],
    values: Vec<f64>,
}

#[test]
fn four_d_files_read_volume_by_volume_as_nibabel_reads_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nibabel_4d");
    let tmp = tempfile::tempdir().unwrap();
    for stem in ["uint8_probabilities_lps", "float32_frames_ras"] {
        let path = ["nii.gz", "nii"]
            .iter()
            .map(|ext| dir.join(format!("{stem}.{ext}")))
            .find(|p| p.exists())
            .unwrap();
        let facts: FramesFacts =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{stem}.json"))).unwrap())
                .unwrap();
        // A single-volume reader refuses the series and says why.
        let e = NiftiReader::new().read_f32(&path).unwrap_err();
        assert!(e.to_string().contains("4D"), "{stem}: {e}");
        let frames = NiftiReader::new().read_frames_f32(&path).unwrap();
        assert_eq!(frames.len(), facts.shape[3], "{stem}");
        let values: Vec<f32> = frames
            .iter()
            .flat_map(|f| f.as_slice().iter().copied())
            .collect();
        assert_eq!(values.len(), facts.values.len(), "{stem}");
        for (n, (ours, theirs)) in values.iter().zip(&facts.values).enumerate() {
            assert!(
                close(f64::from(*ours), *theirs),
                "{stem} value {n}: {ours} vs nibabel {theirs}"
            );
        }
        for f in &frames {
            assert_eq!(
                f.geometry().dim(),
                [facts.shape[0], facts.shape[1], facts.shape[2]]
            );
            for r in 0..4 {
                for c in 0..4 {
                    assert!((f.geometry().affine()[r][c] - facts.affine[r][c]).abs() < 1e-5);
                }
            }
        }
        // Written back (probabilities as scaled uint8, the rest as float32), read the same.
        let out = tmp.path().join(format!("{stem}.nii.gz"));
        if stem.starts_with("uint8_probabilities") {
            NiftiWriter::new()
                .write_probabilities(&out, &frames)
                .unwrap();
            let info = NiftiReader::new().read_info(&out);
            assert!(info.is_err(), "a 4D file is not one volume");
        } else {
            NiftiWriter::new().write_frames(&out, &frames).unwrap();
        }
        let back = NiftiReader::new().read_frames_f32(&out).unwrap();
        assert_eq!(back.len(), frames.len());
        for (a, b) in back.iter().zip(&frames) {
            assert_eq!(a.data(), b.data(), "{stem}");
            assert!(a.geometry().same_grid(b.geometry(), 1e-6));
        }
    }
}
