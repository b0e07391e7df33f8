//! Atomic file writes for checkpoints and histories.

use std::io::Write;
use std::path::Path;

use crate::error::Result;

/// Writes `bytes` to `path` through a temp file in the same folder and a rename, so a
/// reader never sees half a file.
pub(crate) fn atomic_write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(brats_io::atomic_write(path, |w| w.write_all(bytes))?)
}
