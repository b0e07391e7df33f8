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

/// The ranks' values summed in f64 in rank order, then divided by the world size: the
/// arithmetic every collective here shares, so that they agree to the bit.
struct RankSum(Vec<f64>);

impl RankSum {
    fn new(len: usize) -> RankSum {
        RankSum(vec![0.0; len])
    }

    fn add(&mut self, part: &[f32]) {
        for (s, &v) in self.0.iter_mut().zip(part) {
            *s += f64::from(v);
        }
    }

    fn mean_into(&self, out: &mut [f32], world: usize) {
        let n = world as f64;
        for (o, s) in out.iter_mut().zip(&self.0) {
            *o = (s / n) as f32;
        }
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
            let mut sum = RankSum::new(data.len());
            for part in round.parts.iter().flatten() {
                sum.add(part);
            }
            let mut mean = vec![0.0; data.len()];
            sum.mean_into(&mut mean, self.world);
            round.result = Arc::new(mean);
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

/// Ranks as processes (on one machine or several) connected over TCP: rank 0 listens on
/// the rendezvous address, the others connect to it; an all-reduce sends every rank's
/// values to rank 0, which sums them in rank order (the same arithmetic as
/// [`LocalGroup`]) and sends the mean back. Launched like PyTorch's distributed jobs, with
/// the environment variables `RANK`, `WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT`
/// ([`TcpGroup::from_env`]). For GPUs, the NCCL collective replaces it.
#[derive(Debug)]
pub struct TcpGroup {
    rank: usize,
    world: usize,
    /// Rank 0: one stream per other rank (index = rank − 1); others: the stream to rank 0.
    peers: Vec<Mutex<std::net::TcpStream>>,
}

fn net_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::config("collective", format!("{what}: {e}"))
}

impl TcpGroup {
    /// Joins a group of `world_size` ranks at `addr` (rank 0 binds it), waiting up to
    /// `timeout` for the others.
    ///
    /// # Errors
    /// [`Error::Config`] naming `collective` when the address cannot be bound or reached in
    /// time, a peer sends garbage, or `rank ≥ world_size`.
    pub fn connect(
        rank: usize,
        world_size: usize,
        addr: &str,
        timeout: std::time::Duration,
    ) -> Result<TcpGroup> {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        if world_size == 0 || rank >= world_size {
            return Err(Error::config(
                "collective",
                format!("rank {rank} of a world of {world_size}"),
            ));
        }
        let deadline = std::time::Instant::now() + timeout;
        let mut peers = Vec::new();
        if rank == 0 {
            let listener =
                TcpListener::bind(addr).map_err(|e| net_error(&format!("binding {addr}"), e))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| net_error("listening", e))?;
            let mut by_rank: Vec<Option<TcpStream>> = (1..world_size).map(|_| None).collect();
            let mut joined = 0;
            while joined < world_size - 1 {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false)
                            .map_err(|e| net_error("accepting", e))?;
                        s.set_nodelay(true).map_err(|e| net_error("accepting", e))?;
                        let mut r = [0u8; 8];
                        s.read_exact(&mut r)
                            .map_err(|e| net_error("reading a peer's rank", e))?;
                        let r = u64::from_le_bytes(r) as usize;
                        if r == 0 || r >= world_size || by_rank[r - 1].is_some() {
                            return Err(Error::config(
                                "collective",
                                format!("a peer announced rank {r} (world {world_size})"),
                            ));
                        }
                        by_rank[r - 1] = Some(s);
                        joined += 1;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if std::time::Instant::now() > deadline {
                            return Err(Error::config(
                                "collective",
                                format!(
                                    "{joined} of {} ranks reached {addr} in time",
                                    world_size - 1
                                ),
                            ));
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    Err(e) => return Err(net_error("accepting", e)),
                }
            }
            peers = by_rank.into_iter().flatten().map(Mutex::new).collect();
        } else {
            let mut stream = loop {
                match TcpStream::connect(addr) {
                    Ok(s) => break s,
                    Err(e) if std::time::Instant::now() > deadline => {
                        return Err(net_error(&format!("connecting to rank 0 at {addr}"), e))
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            };
            stream
                .set_nodelay(true)
                .map_err(|e| net_error("connecting", e))?;
            stream
                .write_all(&(rank as u64).to_le_bytes())
                .map_err(|e| net_error("announcing the rank", e))?;
            peers.push(Mutex::new(stream));
        }
        Ok(TcpGroup {
            rank,
            world: world_size,
            peers,
        })
    }

    /// The group the environment describes: `RANK`, `WORLD_SIZE`, `MASTER_ADDR` (default
    /// `127.0.0.1`), `MASTER_PORT` (default `29500`); `None` without `WORLD_SIZE` or with
    /// a world of one. Waits up to ten minutes for the other ranks.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that does not parse, or as
    /// [`TcpGroup::connect`].
    pub fn from_env() -> Result<Option<TcpGroup>> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let Some(world) = var("WORLD_SIZE") else {
            return Ok(None);
        };
        let parse = |k: &str, v: &str| {
            v.parse::<usize>()
                .map_err(|_| Error::config(k, format!("{v:?} is not a whole number")))
        };
        let world = parse("WORLD_SIZE", &world)?;
        if world <= 1 {
            return Ok(None);
        }
        let rank = parse("RANK", &var("RANK").unwrap_or_default())?;
        let addr = format!(
            "{}:{}",
            var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into()),
            var("MASTER_PORT").unwrap_or_else(|| "29500".into())
        );
        TcpGroup::connect(rank, world, &addr, std::time::Duration::from_secs(600)).map(Some)
    }
}

fn lock(m: &Mutex<std::net::TcpStream>) -> Result<std::sync::MutexGuard<'_, std::net::TcpStream>> {
    m.lock()
        .map_err(|_| Error::config("collective", "a connection's lock was poisoned"))
}

fn send_f32s(s: &mut std::net::TcpStream, data: &[f32]) -> std::io::Result<()> {
    use std::io::Write;
    let mut bytes = Vec::with_capacity(8 + data.len() * 4);
    bytes.extend((data.len() as u64).to_le_bytes());
    for v in data {
        bytes.extend(v.to_le_bytes());
    }
    s.write_all(&bytes)
}

fn recv_f32s(s: &mut std::net::TcpStream) -> std::io::Result<Vec<f32>> {
    use std::io::Read;
    let mut n = [0u8; 8];
    s.read_exact(&mut n)?;
    let n = u64::from_le_bytes(n) as usize;
    if n > 1 << 31 {
        return Err(std::io::Error::other(format!("{n} values announced")));
    }
    let mut bytes = vec![0u8; n * 4];
    s.read_exact(&mut bytes)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

impl Collective for TcpGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.world
    }
    fn all_reduce_mean(&self, data: &mut [f32]) -> Result<()> {
        if self.rank == 0 {
            let mut sum = RankSum::new(data.len());
            sum.add(data);
            for (i, peer) in self.peers.iter().enumerate() {
                let part = recv_f32s(&mut *lock(peer)?)
                    .map_err(|e| net_error(&format!("receiving from rank {}", i + 1), e))?;
                if part.len() != data.len() {
                    return Err(Error::config(
                        "collective",
                        format!(
                            "rank {} all-reduces {} values, rank 0 {}",
                            i + 1,
                            part.len(),
                            data.len()
                        ),
                    ));
                }
                sum.add(&part);
            }
            sum.mean_into(data, self.world);
            for (i, peer) in self.peers.iter().enumerate() {
                send_f32s(&mut *lock(peer)?, data)
                    .map_err(|e| net_error(&format!("sending to rank {}", i + 1), e))?;
            }
        } else {
            let peer = self
                .peers
                .first()
                .ok_or_else(|| Error::config("collective", "not connected to rank 0"))?;
            let mut s = lock(peer)?;
            send_f32s(&mut s, data).map_err(|e| net_error("sending to rank 0", e))?;
            let mean = recv_f32s(&mut s).map_err(|e| net_error("receiving from rank 0", e))?;
            if mean.len() != data.len() {
                return Err(Error::config(
                    "collective",
                    format!("rank 0 returned {} values for {}", mean.len(), data.len()),
                ));
            }
            data.copy_from_slice(&mean);
        }
        Ok(())
    }
}
