//! brats-io: generate a synthetic case from real anatomy, write it in BraTS layout, read it
//! back, and look at its geometry and labels.
//!
//! ```text
//! cargo run --release --example brats_io
//! ```

use anyhow::Result;
use brats_io::synth::SynthConfig;
use brats_io::{find_case, LabelScheme, Naming, NiftiReader};

fn main() -> Result<()> {
    let out = std::env::temp_dir().join("bts-example-brats-io");
    // Seeded: seed 7 is the same case on every machine.
    let case = SynthConfig::default().check()?.generate(7)?;
    let folder = case.write(&out, Naming::Brats2021)?;
    println!("wrote {} ({:?})", folder.display(), case.truth.subtype);

    let loaded = find_case(&folder)?.load(&NiftiReader::new())?;
    let g = loaded.geometry();
    println!(
        "{}: {:?} voxels of {:?} mm, orientation {}",
        loaded.id,
        g.dim(),
        g.spacing(),
        g.orientation()
    );
    if let Some(seg) = &loaded.seg {
        let scheme = LabelScheme::brats2021();
        for (label, voxels) in LabelScheme::counts(seg.data()) {
            let name = scheme
                .labels()
                .iter()
                .find(|d| d.value == label)
                .map_or("background", |d| d.name.as_str());
            println!("  label {label} ({name}): {voxels} voxels");
        }
    }
    Ok(())
}
