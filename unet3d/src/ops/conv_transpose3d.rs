//! 3D transposed convolution with kernel = stride (non-overlapping, the U-Net's 2×2×2 up-
//! sampling): the op and the `ConvTranspose3d` layer.
//!
//! # Shapes
//! Input `[B, C_in, D, H, W]`; weight `[C_in, C_out, k, k, k]` (PyTorch's layout); bias
//! `[C_out]`; output `[B, C_out, k·D, k·H, k·W]`.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Module, Shape, Tensor};
use rayon::prelude::*;

use super::kernel::{arg_f32, channel_sums, sgemm, with_f32};
use candle_nn::VarBuilder;

use super::kernel::dims5;
use crate::error::{Error, Result};

/// `conv_transpose3d` with stride equal to the (cubic) kernel size and no padding.
///
/// Each input voxel writes its own `k×k×k` output block, so the op is one matrix product
/// (`[O·k³, C] × [C, D·H·W]` per batch item) followed by a reshuffle. On the CPU in f32 a
/// custom op does both (and the backward pass as two products); elsewhere
/// [`conv_transpose3d_generic`].
///
/// # Shapes
/// See the module docs.
///
/// # Errors
/// [`Error::Shape`] for wrong ranks, a channel mismatch, a non-cubic kernel or a bias of
/// the wrong length.
pub fn conv_transpose3d(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let o = check(x, w, b)?;
    let fast = x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && b.is_none_or(|b| b.dtype() == DType::F32);
    if !fast {
        return conv_transpose3d_generic(x, w, b);
    }
    let bias = match b {
        Some(b) => b.contiguous()?,
        None => Tensor::zeros(o, DType::F32, x.device())?,
    };
    Ok(x.contiguous()?
        .apply_op3(&w.contiguous()?, &bias, ConvTransposeCpu)?)
}

/// Checks shapes; returns the output channel count.
fn check(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<usize> {
    let [_, c, ..] = dims5(x, "conv_transpose3d input")?;
    let [ci, o, kd, kh, kw] = dims5(w, "conv_transpose3d weight")?;
    if ci != c {
        return Err(Error::shape(
            "conv_transpose3d weight",
            format!("{c} input channels first"),
            ci,
        ));
    }
    if kd != kh || kd != kw {
        return Err(Error::shape(
            "conv_transpose3d weight",
            "a cubic kernel",
            format!("{kd}×{kh}×{kw}"),
        ));
    }
    if let Some(b) = b {
        if b.dims() != [o] {
            return Err(Error::shape(
                "conv_transpose3d bias",
                format!("[{o}]"),
                format!("{:?}", b.dims()),
            ));
        }
    }
    Ok(o)
}

/// The device-generic `conv_transpose3d` (kernel = stride): a candle matmul plus a
/// permutation, differentiable through candle's autograd.
///
/// # Errors
/// As [`conv_transpose3d`].
pub fn conv_transpose3d_generic(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let o = check(x, w, b)?;
    let [bn, c, d, h, wd] = dims5(x, "conv_transpose3d input")?;
    let k = w.dims()[2];
    // [B, D, H, W, C] × [C, O·k³] → [B·D·H·W, O·k³]
    let xm = x
        .permute((0, 2, 3, 4, 1))?
        .contiguous()?
        .reshape((bn * d * h * wd, c))?;
    let wm = w.reshape((c, o * k * k * k))?;
    let y = xm.matmul(&wm)?;
    // [B, D, H, W, O, kd, kh, kw] → [B, O, D, kd, H, kh, W, kw] → [B, O, kD, kH, kW]
    let y = y
        .reshape(vec![bn, d, h, wd, o, k, k, k])?
        .permute(vec![0, 4, 1, 5, 2, 6, 3, 7])?
        .contiguous()?
        .reshape((bn, o, d * k, h * k, wd * k))?;
    Ok(match b {
        Some(b) => y.broadcast_add(&b.reshape((1, o, 1, 1, 1))?)?,
        None => y,
    })
}

/// CPU f32 transposed convolution (kernel = stride): `CustomOp3` (input, weight, bias).
struct ConvTransposeCpu;

/// Sizes: batch, in channels, input extent, out channels, kernel.
struct TGeo {
    b: usize,
    c: usize,
    d: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
}

impl TGeo {
    fn new(x: &[usize], w: &[usize]) -> candle_core::Result<TGeo> {
        let (&[b, c, d, h, wd], &[ci, o, k, ..]) = (x, w) else {
            candle_core::bail!("conv_transpose3d: rank-5 input and weight expected");
        };
        if ci != c {
            candle_core::bail!("conv_transpose3d: shapes {x:?} and {w:?} do not fit");
        }
        Ok(TGeo {
            b,
            c,
            d,
            h,
            w: wd,
            o,
            k,
        })
    }

    fn n(&self) -> usize {
        self.d * self.h * self.w
    }

    fn k3(&self) -> usize {
        self.k * self.k * self.k
    }

    /// Moves between the product layout `[O·k³, D·H·W]` (row `o·k³ + t`, column voxel) and
    /// the output `[O, kD, kH, kW]` of one batch item: `f(product_index, output_index)`,
    /// one output channel per call.
    fn shuffle(&self, oj: usize, mut f: impl FnMut(usize, usize)) {
        let (k, h, w, n, k3) = (self.k, self.h, self.w, self.n(), self.k3());
        let (oh, ow) = (h * k, w * k);
        let oplane = self.d * k * oh * ow;
        for t in 0..k3 {
            let (a, bb, cc) = (t / (k * k), (t / k) % k, t % k);
            let row = (oj * k3 + t) * n;
            for zi in 0..self.d {
                for yi in 0..h {
                    let src = row + (zi * h + yi) * w;
                    let dst = oj * oplane + ((zi * k + a) * oh + yi * k + bb) * ow + cc;
                    for xi in 0..w {
                        f(src + xi, dst + xi * k);
                    }
                }
            }
        }
    }
}

impl CustomOp3 for ConvTransposeCpu {
    fn name(&self) -> &'static str {
        "conv-transpose3d-cpu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = arg_f32(s1, l1, "conv_transpose3d input")?;
        let w = arg_f32(s2, l2, "conv_transpose3d weight")?;
        let bias = arg_f32(s3, l3, "conv_transpose3d bias")?;
        let g = TGeo::new(l1.dims(), l2.dims())?;
        let (n, k3, ok3) = (g.n(), g.k3(), g.o * g.k3());
        if bias.len() != g.o {
            candle_core::bail!(
                "conv_transpose3d: bias of {} for {} channels",
                bias.len(),
                g.o
            );
        }
        let per_item = g.o * n * k3;
        let mut out = vec![0f32; g.b * per_item];
        let mut prod = vec![0f32; ok3 * n];
        for bi in 0..g.b {
            // prod [O·k³, N] = Wᵀ [O·k³, C] · X [C, N]
            sgemm(
                (ok3, n, g.c),
                w,
                (1, ok3),
                &x[bi * g.c * n..(bi + 1) * g.c * n],
                (n, 1),
                &mut prod,
                (n, 1),
                false,
                true,
            )?;
            out[bi * per_item..(bi + 1) * per_item]
                .par_chunks_mut(n * k3)
                .enumerate()
                .for_each(|(oj, dst)| {
                    let b = bias[oj];
                    let base = oj * n * k3;
                    g.shuffle(oj, |p, q| dst[q - base] = prod[p] + b);
                });
        }
        Ok((
            CpuStorage::F32(out),
            Shape::from((g.b, g.o, g.d * g.k, g.h * g.k, g.w * g.k)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = TGeo::new(x.dims(), w.dims())?;
        let (n, k3, ok3) = (g.n(), g.k3(), g.o * g.k3());
        let per_item = g.o * n * k3;
        let want_gx = x.track_op();
        let (gx, gw, gb) = with_f32(x, |xs| {
            with_f32(w, |ws| {
                with_f32(grad, |gs| {
                    let mut gx = vec![0f32; if want_gx { xs.len() } else { 0 }];
                    let mut gw = vec![0f32; ws.len()];
                    let mut gp = vec![0f32; ok3 * n];
                    for bi in 0..g.b {
                        let gi = &gs[bi * per_item..(bi + 1) * per_item];
                        // Gather dL/dy into the product layout [O·k³, N].
                        gp.par_chunks_mut(n * k3).enumerate().for_each(|(oj, dst)| {
                            let base = oj * n * k3;
                            g.shuffle(oj, |p, q| dst[p - base] = gi[q]);
                        });
                        let xb = &xs[bi * g.c * n..(bi + 1) * g.c * n];
                        // dL/dx [C, N] = W [C, O·k³] · G [O·k³, N]
                        if want_gx {
                            sgemm(
                                (g.c, n, ok3),
                                ws,
                                (ok3, 1),
                                &gp,
                                (n, 1),
                                &mut gx[bi * g.c * n..(bi + 1) * g.c * n],
                                (n, 1),
                                false,
                                true,
                            )?;
                        }
                        // dL/dW [C, O·k³] += X [C, N] · Gᵀ [N, O·k³]
                        sgemm(
                            (g.c, ok3, n),
                            xb,
                            (n, 1),
                            &gp,
                            (1, n),
                            &mut gw,
                            (ok3, 1),
                            bi > 0,
                            true,
                        )?;
                    }
                    let gb = channel_sums(gs, g.b, g.o);
                    Ok((gx, gw, gb))
                })
            })
        })?;
        let gx = want_gx
            .then(|| Tensor::from_vec(gx, x.shape(), x.device()))
            .transpose()?;
        let gb = bias
            .track_op()
            .then(|| Tensor::from_vec(gb, g.o, bias.device()))
            .transpose()?;
        Ok((gx, Some(Tensor::from_vec(gw, w.shape(), w.device())?), gb))
    }
}

/// A transposed-convolution layer (kernel = stride).
#[derive(Debug, Clone)]
pub struct ConvTranspose3d {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl ConvTranspose3d {
    /// A layer from its tensors.
    ///
    /// # Shapes
    /// `weight` `[C_in, C_out, k, k, k]`, `bias` `[C_out]`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        ConvTranspose3d { weight, bias }
    }

    /// The weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The forward pass with this crate's error type.
    ///
    /// # Errors
    /// As [`conv_transpose3d`].
    pub fn forward3d(&self, x: &Tensor) -> Result<Tensor> {
        conv_transpose3d(x, &self.weight, self.bias.as_ref())
    }
}

impl Module for ConvTranspose3d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward3d(x).map_err(candle_core::Error::wrap)
    }
}

/// A `ConvTranspose3d` whose `weight` `[in, out, k, k, k]` and `bias` `[out]` come from `vb`.
///
/// # Errors
/// [`Error::Candle`] when a tensor is missing or has the wrong shape.
pub fn conv_transpose3d_layer(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    vb: VarBuilder,
) -> Result<ConvTranspose3d> {
    // PyTorch computes fan_in of a transposed conv's weight from dim 1 (out channels).
    let fan_in = (out_channels * kernel * kernel * kernel) as f64;
    let bound = 1.0 / fan_in.sqrt();
    let init = candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let weight = vb.get_with_hints(
        (in_channels, out_channels, kernel, kernel, kernel),
        "weight",
        init,
    )?;
    let bias = vb.get_with_hints(out_channels, "bias", init)?;
    Ok(ConvTranspose3d::new(weight, Some(bias)))
}
