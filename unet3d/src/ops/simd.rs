//! The instruction-set levels of the direct convolution and the few vector operations its
//! micro-kernels are written in.
//!
//! The kernels are generic over `Simd` and monomorphised once per level; each level has an
//! entry point compiled with its target features (`#[target_feature]`), and the level is
//! picked at run time ([`cpu_isa`]), so one binary runs on any x86-64 and uses AVX-512 where
//! the CPU has it. `BTS_CPU_ISA=avx512|avx2|portable` forces a level (lower than detected
//! only; tests run every level the machine has).
//!
//! Why intrinsics and not a crate: the kernels need five operations (broadcast from memory,
//! unaligned load and store, fused multiply-add, zero). `std::arch` has them all on stable
//! Rust since 1.89 (AVX-512); a portable-SIMD crate would add a dependency for less control
//! over which instruction each line becomes, and `gemm`'s micro-kernels are not exposed for
//! anything but a matrix product.

use std::sync::OnceLock;

/// An instruction-set level of the CPU kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust on 8-lane arrays (whatever the compiler vectorises for the baseline).
    Portable,
    /// x86-64 AVX2 with FMA: 8 lanes, 16 vector registers.
    Avx2,
    /// x86-64 AVX-512F: 16 lanes, 32 vector registers.
    Avx512,
}

impl Isa {
    /// Every level this CPU can run, lowest first.
    pub fn available() -> Vec<Isa> {
        let best = detected();
        [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|&i| i <= best)
            .collect()
    }

    /// The level's name as `BTS_CPU_ISA` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The best level this CPU has.
fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// The level the CPU kernels use: the best the CPU has, or `BTS_CPU_ISA` when it names a
/// level the CPU has (a higher or unknown name is ignored with a warning on stderr). Read
/// once per process.
pub fn cpu_isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = detected();
        match std::env::var("BTS_CPU_ISA") {
            Ok(name) => match Isa::available().into_iter().find(|i| i.name() == name) {
                Some(isa) => isa,
                None => {
                    eprintln!(
                        "warning: BTS_CPU_ISA={name} is not one of {:?} on this CPU; using {best}",
                        Isa::available()
                            .iter()
                            .map(|i| i.name())
                            .collect::<Vec<_>>()
                    );
                    best
                }
            },
            Err(_) => best,
        }
    })
}

/// The vector operations of the micro-kernels. Every method is `unsafe`: pointers must be
/// valid for `LANES` elements (one for `splat`), and the CPU must have the level's features.
pub(crate) trait Simd: Copy {
    /// f32 lanes per vector.
    const LANES: usize;
    /// Largest register block (accumulators) the level's register file holds with room for
    /// the operands.
    const REGS: usize;
    /// One vector.
    type V: Copy;
    /// All lanes zero.
    unsafe fn zero() -> Self::V;
    /// All lanes `*p`.
    unsafe fn splat(p: *const f32) -> Self::V;
    /// `LANES` values from `p` (no alignment needed).
    unsafe fn load(p: *const f32) -> Self::V;
    /// Stores `LANES` values at `p` (no alignment needed).
    unsafe fn store(p: *mut f32, v: Self::V);
    /// `a · b + c`.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
}

/// 8-lane arrays in plain Rust.
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Simd for Portable {
    const LANES: usize = 8;
    const REGS: usize = 12;
    type V = [f32; 8];

    #[inline(always)]
    unsafe fn zero() -> [f32; 8] {
        [0.0; 8]
    }

    #[inline(always)]
    unsafe fn splat(p: *const f32) -> [f32; 8] {
        // SAFETY: forwarded to the caller.
        [unsafe { *p }; 8]
    }

    #[inline(always)]
    unsafe fn load(p: *const f32) -> [f32; 8] {
        // SAFETY: forwarded to the caller.
        unsafe { p.cast::<[f32; 8]>().read_unaligned() }
    }

    #[inline(always)]
    unsafe fn store(p: *mut f32, v: [f32; 8]) {
        // SAFETY: forwarded to the caller.
        unsafe { p.cast::<[f32; 8]>().write_unaligned(v) }
    }

    /// A multiply, then an add: `f32::mul_add` without a hardware FMA in the baseline target
    /// is a call to the C library's software `fmaf` per lane (measured: 200× slower than
    /// AVX-512 instead of ~10×); the separate operations vectorise with SSE2 or NEON.
    #[inline(always)]
    unsafe fn fma(a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }

    #[inline(always)]
    unsafe fn add(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] + b[i])
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Simd;

    /// AVX2 + FMA, 8 lanes.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2;

    impl Simd for Avx2 {
        const LANES: usize = 8;
        const REGS: usize = 12;
        type V = __m256;

        #[inline(always)]
        unsafe fn zero() -> __m256 {
            // SAFETY: the caller runs with AVX.
            unsafe { _mm256_setzero_ps() }
        }

        #[inline(always)]
        unsafe fn splat(p: *const f32) -> __m256 {
            // SAFETY: forwarded to the caller.
            unsafe { _mm256_broadcast_ss(&*p) }
        }

        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            // SAFETY: forwarded to the caller.
            unsafe { _mm256_loadu_ps(p) }
        }

        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            // SAFETY: forwarded to the caller.
            unsafe { _mm256_storeu_ps(p, v) }
        }

        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: the caller runs with FMA.
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }

        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            // SAFETY: the caller runs with AVX.
            unsafe { _mm256_add_ps(a, b) }
        }
    }

    /// AVX-512F, 16 lanes.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512;

    impl Simd for Avx512 {
        const LANES: usize = 16;
        const REGS: usize = 28;
        type V = __m512;

        #[inline(always)]
        unsafe fn zero() -> __m512 {
            // SAFETY: the caller runs with AVX-512F.
            unsafe { _mm512_setzero_ps() }
        }

        #[inline(always)]
        unsafe fn splat(p: *const f32) -> __m512 {
            // SAFETY: forwarded to the caller.
            unsafe { _mm512_set1_ps(*p) }
        }

        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            // SAFETY: forwarded to the caller.
            unsafe { _mm512_loadu_ps(p) }
        }

        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            // SAFETY: forwarded to the caller.
            unsafe { _mm512_storeu_ps(p, v) }
        }

        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            // SAFETY: the caller runs with AVX-512F.
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }

        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            // SAFETY: the caller runs with AVX-512F.
            unsafe { _mm512_add_ps(a, b) }
        }
    }
}
