//! The metrics crate's region presets say the same as brats-io's label schemes (the two
//! crates do not depend on each other, so this is checked here, where both are visible).

use brain_tumour_seg::io::{LabelScheme, Region};
use brain_tumour_seg::metrics::brats::RegionSpec;

#[test]
fn region_presets_match_label_schemes() {
    for (scheme, specs) in [
        (LabelScheme::brats2021(), RegionSpec::brats2021()),
        (LabelScheme::brats2023(), RegionSpec::brats2023()),
    ] {
        for (region, spec) in Region::ALL.iter().zip(&specs) {
            assert_eq!(spec.name, region.name());
            let mut from_scheme: Vec<u8> = scheme
                .labels()
                .iter()
                .filter(|l| l.compartment.in_region(*region))
                .map(|l| l.value)
                .collect();
            from_scheme.sort();
            let mut from_spec = spec.labels.clone();
            from_spec.sort();
            assert_eq!(from_scheme, from_spec, "{} {}", scheme.name(), region);
        }
    }
}
