//! The reader: header checked before any allocation, voxels streamed and converted to
//! `f32` on two threads, NaN/Inf handled by policy.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use ndarray::Array3;
use rayon::prelude::*;

use super::header::{parse_header, Datatype, Frames, NiftiInfo, HEADER_SIZE};
use crate::error::{Error, Result};
use crate::volume::{Geometry, Volume};

/// What to do with voxels that are NaN or ±Inf after scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NonFinite {
    /// Refuse the file with [`Error::NonFinite`] and the count (default).
    #[default]
    Reject,
    /// Replace each with 0 (the caller accepts the damage).
    ReplaceWithZero,
}

/// Options-then-verb NIfTI reader.
///
/// ```no_run
/// use brats_io::{NiftiReader, NonFinite};
/// # fn main() -> brats_io::Result<()> {
/// let vol = NiftiReader::new().non_finite(NonFinite::ReplaceWithZero).read_f32("t1.nii.gz")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiReader {
    max_bytes: u64,
    non_finite: NonFinite,
}

impl Default for NiftiReader {
    fn default() -> Self {
        NiftiReader {
            max_bytes: 4 << 30,
            non_finite: NonFinite::Reject,
        }
    }
}

impl NiftiReader {
    /// A reader with the defaults: at most 4 GiB of voxel data, non-finite voxels rejected.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest voxel payload (bytes on disk, uncompressed) the reader will allocate.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// What to do with NaN/Inf voxels.
    pub fn non_finite(mut self, policy: NonFinite) -> Self {
        self.non_finite = policy;
        self
    }

    /// Reads and checks only the header.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::InvalidNifti`] for a wrong magic,
    /// size, dims or spacing; [`Error::UnsupportedDatatype`]; [`Error::TooLarge`].
    pub fn read_info(&self, path: impl AsRef<Path>) -> Result<NiftiInfo> {
        self.header_of(path.as_ref(), Frames::One)
    }

    /// As [`NiftiReader::read_info`], for a file that may hold several 3D volumes along its
    /// fourth axis ([`NiftiInfo::frames`]; what [`NiftiReader::read_frames_f32`] reads).
    ///
    /// # Errors
    /// As [`NiftiReader::read_info`] (the size limit counts every volume), and
    /// [`Error::InvalidNifti`] for dims past the fourth other than 1.
    pub fn read_frames_info(&self, path: impl AsRef<Path>) -> Result<NiftiInfo> {
        self.header_of(path.as_ref(), Frames::Many)
    }

    /// The checked header of `path`.
    fn header_of(&self, path: &Path, frames: Frames) -> Result<NiftiInfo> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut src = Source::new(path, file)?;
        let mut bytes = [0u8; HEADER_SIZE];
        src.read_exact(&mut bytes)?;
        parse_header(path, &bytes, self.max_bytes, frames)
    }

    /// Reads a volume as `f32`, with `scl_slope`/`scl_inter` applied (as nibabel's
    /// `get_fdata`, but in single precision).
    ///
    /// # Shapes
    /// Returns data of shape `[nk, nj, ni]`.
    ///
    /// # Errors
    /// As [`NiftiReader::read_info`], plus [`Error::InvalidNifti`] for a truncated or corrupt
    /// file, and [`Error::NonFinite`] when NaN/Inf voxels are present and rejected.
    pub fn read_f32(&self, path: impl AsRef<Path>) -> Result<Volume<f32>> {
        let path = path.as_ref();
        let (info, src) = self.open(path)?;
        let (mut out, bad) = stream_convert(src, &info)?;
        self.handle_non_finite(path, &mut out, bad)?;
        volume_from_vec(out, info.geometry)
    }

    /// Reads every 3D volume of a 4D image (a time series, or per-channel maps such as
    /// [`NiftiWriter::write_frames`](super::NiftiWriter::write_frames) writes) as `f32`,
    /// scaled as [`NiftiReader::read_f32`]; a 3D image gives one volume. Each volume
    /// carries the file's grid.
    ///
    /// # Errors
    /// As [`NiftiReader::read_f32`] (the size limit counts every volume), and
    /// [`Error::InvalidNifti`] for dims past the fourth other than 1.
    pub fn read_frames_f32(&self, path: impl AsRef<Path>) -> Result<Vec<Volume<f32>>> {
        let path = path.as_ref();
        let (info, src) = self.open_frames(path, Frames::Many)?;
        let (mut out, bad) = stream_convert(src, &info)?;
        self.handle_non_finite(path, &mut out, bad)?;
        let geometry = info.geometry.with_source_header(single_volume(&info.raw));
        if info.frames == 1 {
            // A 3D image: its voxels as they are, without a copy.
            return Ok(vec![volume_from_vec(out, geometry)?]);
        }
        out.chunks(geometry.len().max(1))
            .map(|frame| volume_from_vec(frame.to_vec(), geometry.clone()))
            .collect()
    }

    /// Reads an integer label map (any datatype whose scaled values are whole numbers in
    /// `0..=255`) as `u8`.
    ///
    /// # Errors
    /// As [`NiftiReader::read_f32`], plus [`Error::NotALabel`] for the first value that is
    /// fractional, negative or above 255.
    pub fn read_labels(&self, path: impl AsRef<Path>) -> Result<Volume<u8>> {
        let path = path.as_ref();
        let (info, mut src) = self.open(path)?;
        let (slope, inter) = effective_scaling(info.scl_slope, info.scl_inter);
        if info.datatype == Datatype::Uint8 && slope == 1.0 && inter == 0.0 {
            // Already labels on disk: the bytes are the values.
            let n = info.geometry.len();
            let mut out = Vec::new();
            out.try_reserve_exact(n).map_err(|_| Error::TooLarge {
                path: path.to_path_buf(),
                needed: n as u64,
                limit: "and the allocation failed".into(),
            })?;
            out.resize(n, 0u8);
            src.read_exact(&mut out)?;
            return volume_from_vec(out, info.geometry);
        }
        let (values, _) = stream_convert(src, &info)?;
        if let Some(v) = values
            .par_iter()
            .find_any(|v| !(v.fract() == 0.0 && (0.0..=255.0).contains(*v)))
        {
            return Err(Error::NotALabel {
                path: path.to_path_buf(),
                value: f64::from(*v),
            });
        }
        let labels: Vec<u8> = values.par_iter().map(|v| *v as u8).collect();
        volume_from_vec(labels, info.geometry)
    }

    /// Reads a uint8 label volume held in memory (`.nii` bytes, or `.nii.gz` bytes — the
    /// gzip magic decides), for assets embedded in a program. `name` stands for the path in
    /// errors.
    ///
    /// # Errors
    /// [`Error::InvalidNifti`] for a damaged or truncated image, or one that is not plain
    /// uint8 labels (datatype and scaling).
    pub fn read_labels_bytes(&self, name: &str, bytes: &[u8]) -> Result<Volume<u8>> {
        let path = Path::new(name);
        let owned;
        let raw: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            MultiGzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| Error::io(path, e))?;
            owned = out;
            &owned
        } else {
            bytes
        };
        let header: &[u8; HEADER_SIZE] = raw
            .get(..HEADER_SIZE)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::invalid(path, "shorter than a NIfTI header"))?;
        let info = parse_header(path, header, self.max_bytes, Frames::One)?;
        let (slope, inter) = effective_scaling(info.scl_slope, info.scl_inter);
        if info.datatype != Datatype::Uint8 || slope != 1.0 || inter != 0.0 {
            return Err(Error::invalid(
                path,
                format!("expected unscaled uint8 labels, found {:?}", info.datatype),
            ));
        }
        let offset = info.raw.vox_offset as usize;
        let n = info.geometry.len();
        let data = raw
            .get(offset..offset + n)
            .ok_or_else(|| Error::invalid(path, "truncated voxel data"))?
            .to_vec();
        volume_from_vec(data, info.geometry)
    }

    /// Applies the non-finite policy to `bad` NaN/Inf voxels among `out`.
    fn handle_non_finite(&self, path: &Path, out: &mut [f32], bad: usize) -> Result<()> {
        if bad == 0 {
            return Ok(());
        }
        match self.non_finite {
            NonFinite::Reject => Err(Error::NonFinite {
                path: path.to_path_buf(),
                count: bad,
            }),
            NonFinite::ReplaceWithZero => {
                out.par_iter_mut().for_each(|v| {
                    if !v.is_finite() {
                        *v = 0.0
                    }
                });
                Ok(())
            }
        }
    }

    /// Opens the file, parses and checks the header, and positions the stream at the first
    /// voxel byte.
    fn open<'p>(&self, path: &'p Path) -> Result<(NiftiInfo, Source<'p>)> {
        self.open_frames(path, Frames::One)
    }

    /// As `open`, for a header that may hold several volumes.
    fn open_frames<'p>(&self, path: &'p Path, frames: Frames) -> Result<(NiftiInfo, Source<'p>)> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut src = Source::new(path, file)?;
        let mut bytes = [0u8; HEADER_SIZE];
        src.read_exact(&mut bytes)?;
        let info = parse_header(path, &bytes, self.max_bytes, frames)?;
        let offset = info.raw.vox_offset as u64;
        let nbytes = (info.geometry.len() * info.frames * info.datatype.size()) as u64;
        if !src.compressed && offset + nbytes > file_len {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                needed: nbytes,
                limit: format!(
                    "but the file holds only {} bytes after vox_offset {offset} (truncated?)",
                    file_len.saturating_sub(offset)
                ),
            });
        }
        // Skip the extension block between the header and the voxels.
        src.skip(offset - HEADER_SIZE as u64)?;
        Ok((info, src))
    }
}

/// A 4D header as the header of one of its volumes.
fn single_volume(raw: &::nifti::NiftiHeader) -> ::nifti::NiftiHeader {
    let mut h = raw.clone();
    h.dim[0] = h.dim[0].min(3);
    for d in &mut h.dim[4..] {
        *d = 1;
    }
    h
}

/// Pairs a C-order voxel vector with its grid.
fn volume_from_vec<T: Clone>(data: Vec<T>, geometry: Geometry) -> Result<Volume<T>> {
    let shape = geometry.shape();
    let data = Array3::from_shape_vec(shape, data)
        .map_err(|e| Error::shape("voxel buffer", format!("{shape:?}"), e))?;
    Volume::new(data, geometry)
}

/// Bytes per hand-over between the inflating and the converting thread (a multiple of
/// every datatype's size).
const CHUNK_BYTES: usize = 1 << 21;

/// Reads the voxel bytes and converts them to scaled `f32`; returns the voxels and how many
/// are not finite.
///
/// This thread inflates (or reads) the data in chunks while two converter threads turn
/// alternate chunks into `f32`, each writing its own disjoint part of the output. Most of a
/// large load is the kernel's first-touch page faults on the fresh output buffer, so two
/// converters halve that on two cores while the third thread keeps inflating. Only the
/// output is allocated in full (fallibly); the raw bytes pass through reused chunk buffers.
fn stream_convert(mut src: Source<'_>, info: &NiftiInfo) -> Result<(Vec<f32>, usize)> {
    use std::mem::MaybeUninit;
    use std::sync::mpsc::{channel, sync_channel};

    let n = info.geometry.len() * info.frames;
    let dt = info.datatype;
    let nbytes = n * dt.size();
    let mut out: Vec<f32> = Vec::new();
    out.try_reserve_exact(n).map_err(|_| Error::TooLarge {
        path: src.path.to_path_buf(),
        needed: nbytes as u64,
        limit: "and the allocation failed".into(),
    })?;
    let (slope, inter) = effective_scaling(info.scl_slope, info.scl_inter);
    let big_endian = info.header.big_endian;
    let check_finite = !dt.is_integer() || slope != 1.0 || inter != 0.0;
    let chunk_voxels = CHUNK_BYTES / dt.size();
    let (written, bad, failure) = {
        // Destination pieces, one per chunk, dealt alternately to the two converters.
        let pieces: Vec<&mut [MaybeUninit<f32>]> = out.spare_capacity_mut()[..n]
            .chunks_mut(chunk_voxels)
            .collect();
        let mut even = Vec::new();
        let mut odd = Vec::new();
        for (i, piece) in pieces.into_iter().enumerate() {
            if i % 2 == 0 {
                even.push(piece)
            } else {
                odd.push(piece)
            }
        }
        std::thread::scope(|scope| {
            let (empty_tx, empty_rx) = channel::<Vec<u8>>();
            let mut senders = Vec::with_capacity(2);
            let mut workers = Vec::with_capacity(2);
            for dests in [even, odd] {
                let (tx, rx) = sync_channel::<Vec<u8>>(1);
                let empty_tx = empty_tx.clone();
                senders.push(tx);
                workers.push(scope.spawn(move || {
                    let (mut written, mut bad) = (0usize, 0usize);
                    for (chunk, dest) in rx.into_iter().zip(dests) {
                        let count = convert_into(&chunk, dt, big_endian, dest, slope, inter);
                        if check_finite {
                            bad += dest[..count]
                                // SAFETY: convert_into initialised the first `count` elements.
                                .iter()
                                .filter(|v| !unsafe { v.assume_init() }.is_finite())
                                .count();
                        }
                        written += count;
                        // The reader may have stopped; a closed return channel is fine.
                        let _ = empty_tx.send(chunk);
                    }
                    (written, bad)
                }));
            }
            drop(empty_tx);
            let mut remaining = nbytes;
            let mut failure = None;
            let mut turn = 0;
            while remaining > 0 {
                let len = remaining.min(CHUNK_BYTES);
                let mut buf = empty_rx.try_recv().unwrap_or_default();
                buf.resize(len, 0);
                if let Err(e) = src.read_exact(&mut buf) {
                    failure = Some(e);
                    break;
                }
                if senders[turn].send(buf).is_err() {
                    break;
                }
                turn = 1 - turn;
                remaining -= len;
            }
            drop(senders);
            let (mut written, mut bad) = (0usize, 0usize);
            for w in workers {
                // A converter cannot panic on any input; treat a join failure as short data.
                if let Ok((wr, b)) = w.join() {
                    written += wr;
                    bad += b;
                }
            }
            (written, bad, failure)
        })
    };
    if let Some(e) = failure {
        return Err(e);
    }
    if written != n {
        return Err(Error::invalid(
            src.path,
            format!("voxel conversion produced {written} of {n} voxels"),
        ));
    }
    // SAFETY: the converters initialised every one of the first `n` elements: the pieces
    // tile `spare_capacity_mut()[..n]` exactly, each was filled by `convert_into`, and the
    // counts add up to `n` (checked above).
    unsafe { out.set_len(n) };
    Ok((out, bad))
}

/// A file opened for reading, transparently gunzipped when it starts with the gzip magic.
struct Source<'p> {
    path: &'p Path,
    reader: Box<dyn Read + Send>,
    compressed: bool,
}

impl<'p> Source<'p> {
    fn new(path: &'p Path, mut file: File) -> Result<Self> {
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
        let compressed = n == 2 && magic == [0x1f, 0x8b];
        let head = std::io::Cursor::new(magic[..n].to_vec());
        let chained = head.chain(std::io::BufReader::with_capacity(1 << 20, file));
        let reader: Box<dyn Read + Send> = if compressed {
            Box::new(MultiGzDecoder::new(chained))
        } else {
            Box::new(chained)
        };
        Ok(Source {
            path,
            reader,
            compressed,
        })
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.reader.read_exact(buf).map_err(|e| {
            let what = if self.compressed {
                "compressed data is truncated or corrupt"
            } else {
                "file is truncated"
            };
            Error::invalid(self.path, format!("{what}: {e}"))
        })
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        let copied = std::io::copy(&mut (&mut self.reader).take(n), &mut std::io::sink())
            .map_err(|e| Error::invalid(self.path, format!("reading extensions: {e}")))?;
        if copied != n {
            return Err(Error::invalid(
                self.path,
                "file ends inside the header extensions",
            ));
        }
        Ok(())
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn effective_scaling(slope: f32, inter: f32) -> (f32, f32) {
    if slope == 0.0 || !slope.is_finite() || !inter.is_finite() {
        (1.0, 0.0)
    } else {
        (slope, inter)
    }
}

/// Writes the scaled `f32` values of `raw` (whole voxels of `dt`) to the front of `dest`;
/// returns how many were written (`min(raw voxels, dest.len())`).
fn convert_into(
    raw: &[u8],
    dt: Datatype,
    big_endian: bool,
    dest: &mut [std::mem::MaybeUninit<f32>],
    slope: f32,
    inter: f32,
) -> usize {
    macro_rules! conv {
        ($t:ty, $n:expr) => {{
            let mut count = 0;
            for (d, src) in dest.iter_mut().zip(raw.chunks_exact($n)) {
                let mut b = [0u8; $n];
                b.copy_from_slice(src);
                let v = if big_endian {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                };
                d.write(v as f32 * slope + inter);
                count += 1;
            }
            count
        }};
    }
    match dt {
        Datatype::Uint8 => conv!(u8, 1),
        Datatype::Int8 => conv!(i8, 1),
        Datatype::Int16 => conv!(i16, 2),
        Datatype::Uint16 => conv!(u16, 2),
        Datatype::Int32 => conv!(i32, 4),
        Datatype::Uint32 => conv!(u32, 4),
        Datatype::Int64 => conv!(i64, 8),
        Datatype::Uint64 => conv!(u64, 8),
        Datatype::Float32 => conv!(f32, 4),
        Datatype::Float64 => conv!(f64, 8),
    }
}
