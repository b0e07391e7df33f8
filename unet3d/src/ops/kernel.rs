//! The CPU kernel toolbox shared by the fast ops: f32 access to candle storage, the `gemm`
//! wrapper, vectorisable sums, the activation the fused epilogues apply, and shape checks.

use candle_core::{CpuStorage, Layout, Storage, Tensor};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Elements per parallel chunk of element-wise CPU loops.
pub(crate) const CHUNK: usize = 1 << 14;

/// A raw pointer shared by rayon workers that write disjoint elements of one buffer.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub(crate) *mut f32);

// SAFETY: only used to hand one output buffer to workers that write disjoint elements; the
// buffer outlives the parallel section that uses the pointer.
unsafe impl Send for SharedMut {}
// SAFETY: as above.
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    pub(crate) fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// Runs `f` on the contiguous f32 data of a CPU tensor.
///
/// # Errors
/// When the tensor is not an f32 tensor on the CPU.
pub(crate) fn with_f32<R>(
    t: &Tensor,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("expected a CPU tensor");
    };
    let Some((a, b)) = layout.contiguous_offsets() else {
        candle_core::bail!("expected a contiguous tensor");
    };
    f(&cpu.as_slice::<f32>()?[a..b])
}

/// The contiguous f32 data of a custom op's CPU argument.
pub(crate) fn arg_f32<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{what} must be contiguous");
    };
    Ok(&s.as_slice::<f32>()?[a..b])
}

/// `dst[m×n] = a[m×k] · b[k×n]` (`+=` when `accumulate`) on raw pointers, every operand
/// given by its (row, column) strides. `gemm` transposes the problem itself when `dst` is
/// row-major, so its microkernel always runs along the longer, contiguous side.
///
/// # Safety
/// Every `(r, c)` with `r < rows`, `c < cols` of each operand, at `ptr + r·rs + c·cs`, must
/// be inside its allocation; nothing else may access the elements of `dst` it writes.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_raw(
    (m, n, k): (usize, usize, usize),
    a: *const f32,
    (a_rs, a_cs): (usize, usize),
    b: *const f32,
    (b_rs, b_cs): (usize, usize),
    dst: *mut f32,
    (d_rs, d_cs): (usize, usize),
    accumulate: bool,
    parallel: bool,
) {
    let par = if parallel && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: forwarded to the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            d_cs as isize,
            d_rs as isize,
            accumulate,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0f32 } else { 0.0f32 },
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

/// One past the largest offset an `r × c` operand with strides `(rs, cs)` reaches.
pub(crate) fn extent(rs: usize, cs: usize, r: usize, c: usize) -> usize {
    if r == 0 || c == 0 {
        0
    } else {
        rs * (r - 1) + cs * (c - 1) + 1
    }
}

/// [`sgemm_raw`] on slices, bounds checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    dst: &mut [f32],
    (d_rs, d_cs): (usize, usize),
    accumulate: bool,
    parallel: bool,
) -> candle_core::Result<()> {
    if a.len() < extent(a_rs, a_cs, m, k)
        || b.len() < extent(b_rs, b_cs, k, n)
        || dst.len() < extent(d_rs, d_cs, m, n)
    {
        candle_core::bail!("sgemm: buffers too small for {m}×{k} · {k}×{n}");
    }
    // SAFETY: every operand's reach is inside its slice (checked above); `dst` is borrowed
    // mutably, so nothing else accesses it.
    unsafe {
        sgemm_raw(
            (m, n, k),
            a.as_ptr(),
            (a_rs, a_cs),
            b.as_ptr(),
            (b_rs, b_cs),
            dst.as_mut_ptr(),
            (d_rs, d_cs),
            accumulate,
            parallel,
        );
    }
    Ok(())
}

/// Runs `f` on fixed chunks of the `b·dout` output planes (one chunk per thread) and adds
/// the chunks' partial sums in chunk order: the result depends on the thread count only,
/// never on work stealing (training is reproducible for a seed and thread count). The
/// convolutions' dL/dw paths share it.
pub(crate) fn chunked_sum(
    b: usize,
    dout: usize,
    len: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [f32]) -> candle_core::Result<()> + Sync,
) -> candle_core::Result<Vec<f32>> {
    let slices = b * dout;
    let chunks = rayon::current_num_threads().clamp(1, slices.max(1));
    let per = slices.div_ceil(chunks);
    let partials: Vec<Vec<f32>> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut acc = vec![0f32; len];
            f(chunk * per..((chunk + 1) * per).min(slices), &mut acc)?;
            Ok(acc)
        })
        .collect::<candle_core::Result<_>>()?;
    let mut sum = vec![0f32; len];
    for p in partials {
        for (s, v) in sum.iter_mut().zip(&p) {
            *s += v;
        }
    }
    Ok(sum)
}

/// `Σ f(v[i])` in f64 with eight independent accumulators: vectorisable, where one running
/// sum waits for the previous addition at every element.
#[inline]
pub(crate) fn lanes_sum(v: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += f(x);
        }
    }
    acc.iter().sum::<f64>() + rest.iter().map(|&x| f(x)).sum::<f64>()
}

/// Σ over batch and space of `[B, O, S]` per channel (f64 accumulation).
pub(crate) fn channel_sums(g: &[f32], b: usize, o: usize) -> Vec<f32> {
    let s = g.len() / (b * o).max(1);
    (0..o)
        .into_par_iter()
        .map(|j| {
            (0..b)
                .map(|bi| lanes_sum(&g[(bi * o + j) * s..(bi * o + j + 1) * s], f64::from))
                .sum::<f64>() as f32
        })
        .collect()
}

/// The network's non-linearity: what a fused convolution applies after its bias, and what
/// [`crate::UNet3dConfig::activation`] names.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    /// None.
    #[default]
    Identity,
    /// `max(z, 0)`.
    Relu,
    /// `z` for `z > 0`, else `slope · z`; the slope must be in `[0, 1)`.
    LeakyRelu(f32),
}

impl Activation {
    /// Checks the leaky slope.
    ///
    /// # Errors
    /// [`Error::Config`] naming `negative_slope` when a leaky slope is outside `[0, 1)`.
    pub fn check(self) -> Result<Activation> {
        match self {
            Activation::LeakyRelu(s) if !(0.0..1.0).contains(&s) => Err(Error::config(
                "negative_slope",
                format!("must be in [0, 1), got {s}"),
            )),
            a => Ok(a),
        }
    }

    /// The slope for negative inputs: 0 for ReLU, the leaky slope, 1 for the identity.
    pub fn negative_slope(self) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => 0.0,
            Activation::LeakyRelu(s) => s,
        }
    }

    /// The activation on any device (the generic path).
    ///
    /// # Errors
    /// Candle errors.
    pub fn apply(self, z: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Identity => z.clone(),
            Activation::Relu => z.relu()?,
            Activation::LeakyRelu(s) => z.maximum(&(z * f64::from(s))?)?,
        })
    }
}

/// Checks a `[B, C, D, H, W]` tensor and returns its dims.
pub(crate) fn dims5(x: &Tensor, what: &str) -> Result<[usize; 5]> {
    let d = x.dims();
    if d.len() != 5 {
        return Err(Error::shape(
            what,
            "rank 5 [B, C, D, H, W]",
            format!("{d:?}"),
        ));
    }
    Ok([d[0], d[1], d[2], d[3], d[4]])
}
