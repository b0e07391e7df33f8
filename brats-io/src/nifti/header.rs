//! The NIfTI-1 header: datatypes, parsing and checking, encoding, and [`NiftiInfo`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::affine::geometry_from_header;
use crate::error::{Error, Result};
use crate::volume::Geometry;

pub(crate) const HEADER_SIZE: usize = 348;
pub(crate) const DATA_OFFSET: usize = 352;

/// A NIfTI voxel datatype this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Datatype {
    /// `DT_UINT8` (2)
    Uint8,
    /// `DT_INT8` (256)
    Int8,
    /// `DT_INT16` (4)
    Int16,
    /// `DT_UINT16` (512)
    Uint16,
    /// `DT_INT32` (8)
    Int32,
    /// `DT_UINT32` (768)
    Uint32,
    /// `DT_INT64` (1024)
    Int64,
    /// `DT_UINT64` (1280)
    Uint64,
    /// `DT_FLOAT32` (16)
    Float32,
    /// `DT_FLOAT64` (64)
    Float64,
}

impl Datatype {
    /// The datatype for a NIfTI `datatype` code, if supported.
    pub fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            2 => Datatype::Uint8,
            256 => Datatype::Int8,
            4 => Datatype::Int16,
            512 => Datatype::Uint16,
            8 => Datatype::Int32,
            768 => Datatype::Uint32,
            1024 => Datatype::Int64,
            1280 => Datatype::Uint64,
            16 => Datatype::Float32,
            64 => Datatype::Float64,
            _ => return None,
        })
    }

    /// The NIfTI `datatype` code.
    pub fn code(self) -> i16 {
        match self {
            Datatype::Uint8 => 2,
            Datatype::Int8 => 256,
            Datatype::Int16 => 4,
            Datatype::Uint16 => 512,
            Datatype::Int32 => 8,
            Datatype::Uint32 => 768,
            Datatype::Int64 => 1024,
            Datatype::Uint64 => 1280,
            Datatype::Float32 => 16,
            Datatype::Float64 => 64,
        }
    }

    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            Datatype::Uint8 | Datatype::Int8 => 1,
            Datatype::Int16 | Datatype::Uint16 => 2,
            Datatype::Int32 | Datatype::Uint32 | Datatype::Float32 => 4,
            Datatype::Int64 | Datatype::Uint64 | Datatype::Float64 => 8,
        }
    }

    /// True for the integer types.
    pub fn is_integer(self) -> bool {
        !matches!(self, Datatype::Float32 | Datatype::Float64)
    }

    /// The lower-case name (`"int16"`, `"float32"`, …), as nibabel prints it.
    pub fn name(self) -> &'static str {
        match self {
            Datatype::Uint8 => "uint8",
            Datatype::Int8 => "int8",
            Datatype::Int16 => "int16",
            Datatype::Uint16 => "uint16",
            Datatype::Int32 => "int32",
            Datatype::Uint32 => "uint32",
            Datatype::Int64 => "int64",
            Datatype::Uint64 => "uint64",
            Datatype::Float32 => "float32",
            Datatype::Float64 => "float64",
        }
    }
}

/// What a NIfTI header says, without the voxels.
#[derive(Debug, Clone)]
pub struct NiftiInfo {
    /// The voxel datatype on disk.
    pub datatype: Datatype,
    /// `scl_slope` as stored (0 means "no scaling").
    pub scl_slope: f32,
    /// `scl_inter` as stored.
    pub scl_inter: f32,
    /// The grid (dims, spacing, affine).
    pub geometry: Geometry,
    /// Which transform gave the affine: `"sform"`, `"qform"` or `"spacing"`.
    pub affine_source: &'static str,
    /// The header fields that say where the voxels sit and how they are stored.
    pub header: HeaderFields,
    /// How many 3D volumes the file holds along its fourth axis: 1 for a 3D image (the
    /// readers of single volumes refuse more).
    pub frames: usize,
    /// The raw header, kept for writing masks with it and for the voxel offset.
    pub(crate) raw: ::nifti::NiftiHeader,
}

/// The header fields a user checks when comparing files (orientation codes, the sform
/// rows, the quaternion, spacing, units, scaling), in NIfTI's own names and types. The
/// crate's own type, so that the `nifti` crate's version is not part of this API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderFields {
    /// `sform_code` (0: no sform).
    pub sform_code: i16,
    /// `qform_code` (0: no qform).
    pub qform_code: i16,
    /// First row of the sform.
    pub srow_x: [f32; 4],
    /// Second row of the sform.
    pub srow_y: [f32; 4],
    /// Third row of the sform.
    pub srow_z: [f32; 4],
    /// Quaternion b.
    pub quatern_b: f32,
    /// Quaternion c.
    pub quatern_c: f32,
    /// Quaternion d.
    pub quatern_d: f32,
    /// qform translation x.
    pub quatern_x: f32,
    /// qform translation y.
    pub quatern_y: f32,
    /// qform translation z.
    pub quatern_z: f32,
    /// `pixdim` (`pixdim[0]` is `qfac`).
    pub pixdim: [f32; 8],
    /// `xyzt_units`.
    pub xyzt_units: u8,
    /// `scl_slope` as stored.
    pub scl_slope: f32,
    /// `scl_inter` as stored.
    pub scl_inter: f32,
    /// `vox_offset`.
    pub vox_offset: f32,
    /// `descrip`, up to its first NUL.
    pub descrip: String,
    /// True for a big-endian file.
    pub big_endian: bool,
}

impl HeaderFields {
    fn from_raw(h: &::nifti::NiftiHeader) -> Self {
        let descrip = h
            .descrip
            .iter()
            .take_while(|&&b| b != 0)
            .copied()
            .collect::<Vec<u8>>();
        HeaderFields {
            sform_code: h.sform_code,
            qform_code: h.qform_code,
            srow_x: h.srow_x,
            srow_y: h.srow_y,
            srow_z: h.srow_z,
            quatern_b: h.quatern_b,
            quatern_c: h.quatern_c,
            quatern_d: h.quatern_d,
            quatern_x: h.quatern_x,
            quatern_y: h.quatern_y,
            quatern_z: h.quatern_z,
            pixdim: h.pixdim,
            xyzt_units: h.xyzt_units,
            scl_slope: h.scl_slope,
            scl_inter: h.scl_inter,
            vox_offset: h.vox_offset,
            descrip: String::from_utf8_lossy(&descrip).into_owned(),
            big_endian: h.endianness == ::nifti::Endianness::Big,
        }
    }
}

/// Whether a header may describe several 3D volumes along its fourth axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frames {
    /// A single 3D volume (every dim past the third is 1).
    One,
    /// Any number along the fourth axis (dims past the fourth are 1).
    Many,
}

pub(crate) fn parse_header(
    path: &Path,
    bytes: &[u8; HEADER_SIZE],
    max_bytes: u64,
    frames: Frames,
) -> Result<NiftiInfo> {
    let header = ::nifti::NiftiHeader::from_reader(&bytes[..]).map_err(|e| match e {
        ::nifti::NiftiError::InvalidFormat => Error::invalid(
            path,
            format!(
                "wrong magic {:?} (expected \"n+1\\0\"; NIfTI-2 and .hdr/.img pairs are not supported)",
                String::from_utf8_lossy(&bytes[344..348])
            ),
        ),
        other => Error::invalid(path, other.to_string()),
    })?;
    if header.sizeof_hdr != HEADER_SIZE as i32 {
        return Err(Error::invalid(
            path,
            format!("sizeof_hdr is {}, expected 348", header.sizeof_hdr),
        ));
    }
    if &header.magic != b"n+1\0" {
        return Err(Error::invalid(
            path,
            "magic \"ni1\" marks a .hdr/.img pair, which is not supported (expected a single .nii file)",
        ));
    }
    let datatype = Datatype::from_code(header.datatype).ok_or_else(|| Error::UnsupportedDatatype {
        path: path.to_path_buf(),
        datatype: header.datatype,
        what: "expected one of uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64".into(),
    })?;
    let ndim = header.dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(Error::invalid(
            path,
            format!("dim[0] = {} (expected 1..=7)", header.dim[0]),
        ));
    }
    let dims = &header.dim[1..=ndim];
    if let Some(pos) = dims.iter().position(|&d| d == 0 || d > i16::MAX as u16) {
        return Err(Error::invalid(
            path,
            format!(
                "dim[{}] = {} (expected 1..=32767)",
                pos + 1,
                dims[pos] as i16
            ),
        ));
    }
    let n_frames = match frames {
        Frames::One => 1,
        Frames::Many => dims.get(3).map_or(1, |&d| d as usize),
    };
    let past = if frames == Frames::One { 3 } else { 4 };
    if dims.iter().skip(past).any(|&d| d != 1) {
        let expected = match frames {
            Frames::One => "a single 3D volume",
            Frames::Many => "3D volumes along the fourth axis only",
        };
        return Err(Error::invalid(
            path,
            format!("dims {dims:?} describe a 4D+ series; expected {expected}"),
        ));
    }
    let dim = [0, 1, 2].map(|a| if a < ndim { dims[a] as usize } else { 1 });
    let nbytes =
        dim.iter().map(|&d| d as u64).product::<u64>() * n_frames as u64 * datatype.size() as u64;
    if nbytes > max_bytes {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            needed: nbytes,
            limit: format!("more than the reader's limit of {max_bytes} bytes"),
        });
    }
    if !(header.vox_offset.is_finite() && header.vox_offset >= DATA_OFFSET as f32) {
        return Err(Error::invalid(
            path,
            format!("vox_offset is {} (expected ≥ 352)", header.vox_offset),
        ));
    }
    if header.vox_offset > (1u64 << 30) as f32 {
        return Err(Error::invalid(
            path,
            format!("vox_offset is {} (absurdly large)", header.vox_offset),
        ));
    }
    let (geometry, affine_source) = geometry_from_header(path, &header, dim)?;
    Ok(NiftiInfo {
        datatype,
        scl_slope: header.scl_slope,
        scl_inter: header.scl_inter,
        geometry: geometry.with_source_header(header.clone()),
        affine_source,
        header: HeaderFields::from_raw(&header),
        frames: n_frames,
        raw: header,
    })
}

/// Serialises a NIfTI-1 header, little-endian, field by field (348 bytes).
pub(crate) fn encode_header(h: &::nifti::NiftiHeader, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&h.sizeof_hdr.to_le_bytes());
    out.extend_from_slice(&h.data_type);
    out.extend_from_slice(&h.db_name);
    out.extend_from_slice(&h.extents.to_le_bytes());
    out.extend_from_slice(&h.session_error.to_le_bytes());
    out.push(h.regular);
    out.push(h.dim_info);
    for d in h.dim {
        out.extend_from_slice(&d.to_le_bytes());
    }
    for f in [h.intent_p1, h.intent_p2, h.intent_p3] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    for s in [h.intent_code, h.datatype, h.bitpix, h.slice_start] {
        out.extend_from_slice(&s.to_le_bytes());
    }
    for f in h.pixdim {
        out.extend_from_slice(&f.to_le_bytes());
    }
    for f in [h.vox_offset, h.scl_slope, h.scl_inter] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out.extend_from_slice(&h.slice_end.to_le_bytes());
    out.push(h.slice_code);
    out.push(h.xyzt_units);
    for f in [h.cal_max, h.cal_min, h.slice_duration, h.toffset] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out.extend_from_slice(&h.glmax.to_le_bytes());
    out.extend_from_slice(&h.glmin.to_le_bytes());
    let mut descrip = [0u8; 80];
    let n = h.descrip.len().min(80);
    descrip[..n].copy_from_slice(&h.descrip[..n]);
    out.extend_from_slice(&descrip);
    out.extend_from_slice(&h.aux_file);
    out.extend_from_slice(&h.qform_code.to_le_bytes());
    out.extend_from_slice(&h.sform_code.to_le_bytes());
    for f in [
        h.quatern_b,
        h.quatern_c,
        h.quatern_d,
        h.quatern_x,
        h.quatern_y,
        h.quatern_z,
    ] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    for f in h.srow_x.iter().chain(&h.srow_y).chain(&h.srow_z) {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out.extend_from_slice(&h.intent_name);
    out.extend_from_slice(&h.magic);
    debug_assert_eq!(out.len() - start, HEADER_SIZE);
}
