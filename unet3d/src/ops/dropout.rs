//! Seeded inverted dropout.
//!
//! candle's own dropout draws from an unseedable thread generator, so training would not be
//! reproducible. Here the mask comes from a ChaCha8 stream seeded per layer and pass
//! ([`DropMask`]), kept as one bit per element (32× smaller than a float mask), and used the
//! same way by every path: the fused CPU convolution applies it in its epilogue, the CPU
//! dropout op applies it and its gradient without a mask tensor, and the device-generic path
//! multiplies by the mask as a tensor. All three drop the same elements for the same seed.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::kernel::{with_f32, CHUNK};
use crate::error::{Error, Result};

/// Which elements of a tensor dropout keeps, one bit per element (element order: the
/// tensor's contiguous order), and the scale `1 / (1 − p)` of the kept ones.
#[derive(Debug, Clone, PartialEq)]
pub struct DropMask {
    bits: Vec<u64>,
    len: usize,
    scale: f32,
}

impl DropMask {
    /// The mask of `len` elements for drop probability `p` from `seed`: element `i` is
    /// dropped when the `i`-th `f32` of a ChaCha8 stream seeded with `seed` is below `p`.
    ///
    /// # Errors
    /// [`Error::Config`] for `p` outside `[0, 1)`.
    pub fn new(len: usize, p: f32, seed: u64) -> Result<DropMask> {
        use rand::{Rng, SeedableRng};
        if !(0.0..1.0).contains(&p) {
            return Err(Error::config(
                "dropout",
                format!("must be in [0, 1), got {p}"),
            ));
        }
        // Element i takes the i-th 32-bit word of the stream (one `next_u32` per `f32`), so
        // blocks of the mask are drawn in parallel from their own word position and equal
        // the serial draw.
        const WORDS: usize = 1024;
        let base = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut bits = vec![0u64; len.div_ceil(64)];
        bits.par_chunks_mut(WORDS)
            .enumerate()
            .for_each(|(blk, words)| {
                let mut rng = base.clone();
                rng.set_word_pos((blk * WORDS * 64) as u128);
                for (w, word) in words.iter_mut().enumerate() {
                    let first = (blk * WORDS + w) * 64;
                    let n = (len - first).min(64);
                    let mut acc = 0u64;
                    for j in 0..n {
                        if rng.random::<f32>() >= p {
                            acc |= 1 << j;
                        }
                    }
                    *word = acc;
                }
            });
        Ok(DropMask {
            bits,
            len,
            scale: 1.0 / (1.0 - p),
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mask covers no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The factor kept elements are multiplied by, `1 / (1 − p)`.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Whether element `i` is kept (false beyond the end).
    #[inline]
    pub fn kept(&self, i: usize) -> bool {
        i < self.len && (self.bits[i / 64] >> (i % 64)) & 1 == 1
    }

    /// `scale` where kept, 0 where dropped, as a float vector (the generic path's mask).
    pub fn to_f32(&self) -> Vec<f32> {
        (0..self.len)
            .map(|i| if self.kept(i) { self.scale } else { 0.0 })
            .collect()
    }

    /// `v[i] *= scale` or `0` for the elements `start..start + v.len()`.
    #[inline]
    pub(crate) fn apply(&self, v: &mut [f32], start: usize) {
        // Branch-free: which elements survive is random, so a branch would mispredict.
        for (i, x) in v.iter_mut().enumerate() {
            let keep = u32::from(self.kept(start + i)).wrapping_neg();
            *x = f32::from_bits((*x * self.scale).to_bits() & keep);
        }
    }
}

/// Inverted dropout: elements dropped with probability `p` (mask from `seed`, see
/// [`DropMask::new`]), the others scaled by `1 / (1 − p)`. `p = 0` returns `x`.
///
/// On the CPU in f32 a custom op that keeps only the bit mask; elsewhere `x · mask`.
///
/// # Errors
/// [`Error::Config`] for `p` outside `[0, 1)`.
pub fn dropout_seeded(x: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    if p == 0.0 {
        return Ok(x.clone());
    }
    let mask = DropMask::new(x.elem_count(), p, seed)?;
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        return Ok(x.contiguous()?.apply_op1(DropoutCpu {
            mask: Arc::new(mask),
        })?);
    }
    dropout_generic(x, &mask)
}

/// `x · mask` with the mask as a tensor (any device and float dtype).
///
/// # Errors
/// A shape error when the mask does not cover `x`.
pub fn dropout_generic(x: &Tensor, mask: &DropMask) -> Result<Tensor> {
    if mask.len() != x.elem_count() {
        return Err(Error::shape(
            "dropout mask",
            format!("{} elements", x.elem_count()),
            mask.len(),
        ));
    }
    let m = Tensor::from_vec(mask.to_f32(), x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok(x.mul(&m)?)
}

/// Dropout on a contiguous CPU f32 tensor; the backward pass masks the gradient the same way.
struct DropoutCpu {
    mask: Arc<DropMask>,
}

impl DropoutCpu {
    fn run(&self, v: &[f32]) -> candle_core::Result<Vec<f32>> {
        if v.len() != self.mask.len() {
            candle_core::bail!(
                "dropout: mask of {} elements for {} values",
                self.mask.len(),
                v.len()
            );
        }
        let mut out = v.to_vec();
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, c)| self.mask.apply(c, i * CHUNK));
        Ok(out)
    }
}

impl CustomOp1 for DropoutCpu {
    fn name(&self) -> &'static str {
        "dropout-seeded"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("dropout: input must be contiguous");
        };
        let out = self.run(&s.as_slice::<f32>()?[a..b])?;
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let g = with_f32(grad, |g| self.run(g))?;
        Ok(Some(Tensor::from_vec(g, grad.shape(), grad.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_mask_equals_the_serial_stream() {
        use rand::{Rng, SeedableRng};
        let (len, p) = (200_003, 0.3f32);
        let m = DropMask::new(len, p, 42).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let serial: Vec<bool> = (0..len).map(|_| rng.random::<f32>() >= p).collect();
        assert!((0..len).all(|i| m.kept(i) == serial[i]));
        let kept = serial.iter().filter(|&&k| k).count() as f64 / len as f64;
        assert!((kept - 0.7).abs() < 0.01, "kept share {kept}");
        assert!(!m.kept(len));
    }
}
