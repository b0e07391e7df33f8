//! Data-parallel training: ranks that each compute gradients on their share of a batch and
//! average them before the optimiser step, through a small collective-communication trait.
//!
//! With `world_size` ranks of batch `b`, every rank draws the same global batch of
//! `world_size · b` patches from the same seeded sampler and keeps its own consecutive
//! share (rank `r`: patches `r·b .. (r+1)·b`), so the ranks together see exactly what one
//! rank with batch `world_size · b` sees. The gradients are averaged with
//! [`Collective::all_reduce_mean`]; with a loss that is a mean over samples (per-sample
//! Dice, [`super::LossWeights::batch_dice`] off, plus the focal term) the averaged gradient
//! is the single-rank gradient, and the weights stay equal within floating-point rounding
//! (`tests/data_parallel.rs`). With batch Dice each rank's Dice covers its own share only —
//! the usual data-parallel approximation.
//!
//! [`LocalGroup`] runs ranks as threads of one process (tests, several CPU sockets).
//! Rank 0 alone validates and writes checkpoints and history.

use std::sync::{Arc, Condvar, Mutex};

use crate::error::{Error, Result};

/// The collective operations training needs.
pub trait Collective: Send + Sync {
    /// This rank, `0..world_size`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn world_size(&self) -> usize;
    /// Replaces `data` on every rank by the element-wise mean over the ranks. Every rank
    /// must call it with the same length, in the same order of calls.
    ///
    /// # Errors
    /// [`Error::Config`] naming `collective` when the ranks disagree on the length or a
    /// rank has gone.
    fn all_reduce_mean(&self, data: &mut [f32]) -> Result<()>;
}

/// One process, no communication.
#[derive(Debug, Clone, Copy, Default)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn all_reduce_mean(&self, _data: &mut [f32]) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Round {
    /// Each rank's contribution, summed in rank order (deterministic).
    parts: Vec<Option<Vec<f32>>>,
    arrived: usize,
    left: usize,
    generation: u64,
    result: Arc<Vec<f32>>,
}

/// Ranks as threads of one process, sharing memory.
#[derive(Debug, Clone)]
pub struct LocalGroup {
    rank: usize,
    world: usize,
    shared: Arc<(Mutex<Round>, Condvar)>,
}

impl LocalGroup {
    /// `world_size` connected ranks, one per thread.
    ///
    /// # Errors
    /// [`Error::Config`] when `world_size` is 0.
    pub fn new(world_size: usize) -> Result<Vec<LocalGroup>> {
        if world_size == 0 {
            return Err(Error::config("collective", "world size must be at least 1"));
        }
        let shared = Arc::new((Mutex::new(Round::default()), Condvar::new()));
        Ok((0..world_size)
            .map(|rank| LocalGroup {
                rank,
                world: world_size,
                shared: shared.clone(),
            })
            .collect())
    }
}

impl Collective for LocalGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.world
    }
    fn all_reduce_mean(&self, data: &mut [f32]) -> Result<()> {
        let gone = || Error::config("collective", "a rank panicked during an all-reduce");
        let (lock, cv) = &*self.shared;
        let mut round = lock.lock().map_err(|_| gone())?;
        // Wait until the previous round has been read by everyone.
        while round.left > 0 {
            round = cv.wait(round).map_err(|_| gone())?;
        }
        if round.arrived == 0 {
            round.parts = vec![None; self.world];
        }
        if let Some(other) = round.parts.iter().flatten().next() {
            if other.len() != data.len() {
                return Err(Error::config(
                    "collective",
                    format!(
                        "rank {} all-reduces {} values, another rank {}",
                        self.rank,
                        data.len(),
                        other.len()
                    ),
                ));
            }
        }
        round.parts[self.rank] = Some(data.to_vec());
        round.arrived += 1;
        let generation = round.generation;
        if round.arrived == self.world {
            let n = self.world as f64;
            let mut sum = vec![0.0f64; data.len()];
            for part in round.parts.iter().flatten() {
                for (s, &v) in sum.iter_mut().zip(part) {
                    *s += f64::from(v);
                }
            }
            round.result = Arc::new(sum.iter().map(|s| (s / n) as f32).collect());
            round.arrived = 0;
            round.left = self.world;
            round.generation += 1;
            cv.notify_all();
        } else {
            while round.generation == generation {
                round = cv.wait(round).map_err(|_| gone())?;
            }
        }
        data.copy_from_slice(&round.result);
        round.left -= 1;
        if round.left == 0 {
            cv.notify_all();
        }
        Ok(())
    }
}
