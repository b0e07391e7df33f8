//! Post-processing of a predicted label map: small components removed, too little
//! enhancement relabelled as core.

use brats_io::components::connected_components;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

/// Post-processing of a label map (both steps off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PostprocessConfig {
    /// Drop connected tumour components (26-connectivity, any non-zero label) smaller than
    /// this many voxels; 0 keeps everything.
    pub min_component_voxels: usize,
    /// When the whole map holds fewer enhancing voxels than this, relabel them as
    /// necrotic/non-enhancing core — the BraTS practice that avoids a Dice of 0 on cases
    /// without enhancement (where any false-positive ET voxel scores 0 under the challenge's
    /// empty-region rule); 0 disables it.
    pub et_to_core_below_voxels: usize,
}

/// What [`postprocess`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PostprocessReport {
    /// Components removed.
    pub components_removed: usize,
    /// Voxels set to background.
    pub voxels_removed: usize,
    /// Enhancing voxels relabelled as core.
    pub et_relabelled: usize,
}

/// Applies `cfg` to a label map in `scheme`'s values, in place.
pub fn postprocess(
    labels: &mut Array3<u8>,
    scheme: &brats_io::LabelScheme,
    cfg: &PostprocessConfig,
) -> PostprocessReport {
    let mut report = PostprocessReport::default();
    if cfg.min_component_voxels > 0 {
        let fg = labels.mapv(|v| v != 0);
        let (comp, sizes) = connected_components(&fg);
        for (v, &c) in labels.iter_mut().zip(comp.iter()) {
            if c > 0 && sizes[c as usize] < cfg.min_component_voxels {
                *v = 0;
                report.voxels_removed += 1;
            }
        }
        report.components_removed = sizes
            .iter()
            .skip(1)
            .filter(|&&n| n > 0 && n < cfg.min_component_voxels)
            .count();
    }
    if cfg.et_to_core_below_voxels > 0 {
        let et = scheme.value_of(brats_io::Compartment::Enhancing);
        let core = scheme.value_of(brats_io::Compartment::Core);
        let n_et = labels.iter().filter(|&&v| v == et && et != 0).count();
        if n_et > 0 && n_et < cfg.et_to_core_below_voxels && core != 0 {
            labels.mapv_inplace(|v| if v == et { core } else { v });
            report.et_relabelled = n_et;
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use ndarray::s;

    use super::*;

    #[test]
    fn components_and_postprocessing() {
        let scheme = brats_io::LabelScheme::brats2021();
        let mut l = Array3::<u8>::zeros((10, 10, 10));
        l.slice_mut(s![1..5, 1..5, 1..5]).fill(2);
        l[[2, 2, 2]] = 4;
        l[[8, 8, 8]] = 1; // isolated voxel
        l[[9, 9, 9]] = 1; // touches it diagonally: one component of 2
        let (_, sizes) = connected_components(&l.mapv(|v| v != 0));
        assert_eq!(sizes, vec![0, 64, 2]);
        let cfg = PostprocessConfig {
            min_component_voxels: 3,
            et_to_core_below_voxels: 5,
        };
        let r = postprocess(&mut l, &scheme, &cfg);
        assert_eq!(
            (r.components_removed, r.voxels_removed, r.et_relabelled),
            (1, 2, 1)
        );
        assert_eq!(l[[8, 8, 8]], 0);
        assert_eq!(l[[2, 2, 2]], 1);
        assert_eq!(l.iter().filter(|&&v| v != 0).count(), 64);
    }
}
