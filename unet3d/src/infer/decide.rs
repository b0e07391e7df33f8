//! The decision: probabilities → classes → label values of the scheme, nothing outside the
//! brain.

use brats_io::LabelScheme;
use ndarray::{Array3, Array4, ArrayView3, Axis, Zip};

use crate::error::{Error, Result};
use crate::model::Output;

/// Class map from probabilities `[n_out, D, H, W]`: argmax for softmax; for region
/// sigmoids, thresholds at 0.5 with the inner region winning.
pub fn classes_from_probabilities(
    probs: &Array4<f32>,
    output: Output,
    scheme: &LabelScheme,
) -> Result<Array3<u8>> {
    let shape = [probs.shape()[1], probs.shape()[2], probs.shape()[3]];
    match output {
        Output::Softmax => {
            let mut best = Array3::<f32>::from_elem(shape, f32::NEG_INFINITY);
            let mut cls = Array3::<u8>::zeros(shape);
            for (c, ch) in probs.axis_iter(Axis(0)).enumerate() {
                Zip::from(&mut best)
                    .and(&mut cls)
                    .and(&ch)
                    .for_each(|b, k, &p| {
                        if p > *b {
                            *b = p;
                            *k = c as u8;
                        }
                    });
            }
            Ok(cls)
        }
        Output::SigmoidRegions => {
            let m = |i: usize| probs.index_axis(Axis(0), i).mapv(|p| p > 0.5);
            let labels = scheme.from_regions(&m(0), &m(1), &m(2))?;
            Ok(scheme.to_classes(&labels, "region output")?)
        }
    }
}

/// Probabilities `[n_out, D, H, W]` → label values of `scheme`, background wherever
/// `brain` is false.
///
/// # Shapes
/// `probs`: `[n_out, D, H, W]`; `brain` and the result: `[D, H, W]`.
///
/// # Errors
/// [`Error::Shape`] when `brain` is not the probabilities' grid; label errors.
pub fn decide(
    probs: &Array4<f32>,
    brain: ArrayView3<'_, bool>,
    output: Output,
    scheme: &LabelScheme,
) -> Result<Array3<u8>> {
    if probs.shape()[1..] != *brain.shape() {
        return Err(Error::shape(
            "brain mask",
            format!("{:?} (the probabilities' grid)", &probs.shape()[1..]),
            format!("{:?}", brain.shape()),
        ));
    }
    let mut classes = classes_from_probabilities(probs, output, scheme)?;
    Zip::from(&mut classes).and(&brain).for_each(|c, &b| {
        if !b {
            *c = 0
        }
    });
    Ok(scheme.from_classes(&classes, "prediction")?)
}
