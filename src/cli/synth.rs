//! `bts synth`: synthetic cases (four modalities, seg, truth.json) in BraTS layout (with
//! `--labels decathlon`, the Medical Segmentation Decathlon's; with `--labels nnunet`,
//! nnU-Net's raw layout), one line per case on stdout (folder, 4D image or nnU-Net case
//! prefix, site, subtype, hemisphere, WT volume).

use anyhow::Result;
use brats_io::phantom::{PhantomConfig, PhantomOrientation};
use brats_io::progress::Progress;
use brats_io::synth::{Subtype, SynthConfig};

use super::{Generator, OrientationArg, SynthArgs, Ui};

pub fn run(a: &SynthArgs, ui: &Ui) -> Result<()> {
    let scheme = a.labels.scheme();
    let naming = a.labels.naming();
    if a.generator == Generator::Anatomy
        && (a.shape != [240, 240, 155] || a.orientation != OrientationArg::Lps)
    {
        super::usage_error(
            "--shape and --orientation apply to --generator geometric only (the anatomy generator uses the BraTS grid)",
        );
    }
    if a.generator == Generator::Geometric && a.subtype.is_some() {
        super::usage_error("--subtype applies to --generator anatomy only");
    }
    let geometric = (a.generator == Generator::Geometric)
        .then(|| {
            PhantomConfig {
                shape: a.shape,
                scheme: scheme.clone(),
                orientation: match a.orientation {
                    OrientationArg::Lps => PhantomOrientation::Lps,
                    OrientationArg::Ras => PhantomOrientation::Ras,
                },
                ..Default::default()
            }
            .check()
        })
        .transpose()?;
    let anatomy = (a.generator == Generator::Anatomy)
        .then(|| {
            let mut cfg = SynthConfig {
                scheme: scheme.clone(),
                ..Default::default()
            };
            if let Some(t) = a.subtype {
                cfg.subtypes = vec![Subtype::from(t)];
            }
            cfg.check()
        })
        .transpose()?;
    let bar = ui.bar();
    bar.start("cases", a.cases);
    for n in 0..a.cases {
        let seed = a.seed + n;
        let case = match (&geometric, &anatomy) {
            (Some(g), _) => g.generate(seed)?,
            (_, Some(g)) => g.generate(seed)?,
            (None, None) => unreachable!("one generator is always chosen"),
        };
        let dir = case.write(&a.out, naming)?;
        let t = &case.truth;
        let line = format!(
            "{}  site={} subtype={} hemisphere={} WT={:.1} cm³",
            dir.display(),
            t.site.as_deref().unwrap_or("-"),
            t.subtype.as_deref().unwrap_or("-"),
            t.hemisphere.as_deref().unwrap_or("-"),
            t.volumes_cm3.get("WT").copied().unwrap_or(0.0)
        );
        bar.suspend(|| println!("{line}"));
        bar.advance(1);
    }
    bar.finish();
    Ok(())
}
