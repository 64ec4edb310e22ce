//! Listing and inspecting what is in /dev/shm without opening it as a
//! typed object, and removing stale segments (the rules are in
//! [`crate::segment::stale`]).
//!
//! Everything here reads files with `pread` (never a mapping, so a file
//! another process shrinks cannot raise `SIGBUS`), treats every byte as
//! untrusted, and decides liveness through the kernel.

use crate::segment::name::SegmentName;
pub use crate::segment::stale::{SegmentInfo, Status};
use crate::segment::stale::{candidate_names, clean, examine, no_access};
use crate::sys::Errno;
use crate::sys::shm_dir::SHM_DIR;
use std::fmt;
use std::io;

/// Why [`inspect_segment`] failed. It arises from the name (not a valid
/// segment name, or nothing under it) or from what is under it (not a
/// regular file, or a file the system does not let this process read):
///
/// ```
/// use shm_runtime::tools::{InspectError, inspect_segment};
///
/// let missing = inspect_segment("shmrs-doc-nothing-here").unwrap_err();
/// assert!(matches!(missing, InspectError::NotFound { .. }), "{missing}");
/// let invalid = inspect_segment("a/b").unwrap_err();
/// assert!(matches!(invalid, InspectError::InvalidName(_)), "{invalid}");
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum InspectError {
    /// Not a valid segment name.
    InvalidName(crate::segment::name::InvalidName),
    /// No such segment.
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// Not a regular file (a directory, a link, a FIFO): not followed, not
    /// waited on, not read.
    NotAFile {
        /// The name asked for.
        name: String,
    },
    /// The system refused (permissions) or failed.
    Io {
        /// The name asked for.
        name: String,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => e.fmt(f),
            Self::NotFound { name } => write!(f, "no segment named {name:?} in {SHM_DIR}"),
            Self::NotAFile { name } => write!(f, "{SHM_DIR}/{name} is not a regular file"),
            Self::Io { name, source } => write!(f, "cannot read segment {name:?}: {source}"),
        }
    }
}

impl std::error::Error for InspectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidName(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            Self::NotFound { .. } | Self::NotAFile { .. } => None,
        }
    }
}

/// Reads what `name` (a segment name, with or without a leading `/`) is.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::tools::{Status, inspect_segment};
/// use shm_runtime::{SharedInt, SharedObject};
///
/// let counter = SharedInt::create_sharedobject(3)?;
/// let info = inspect_segment(counter.name().as_str())?;
/// assert_eq!(info.status, Status::Live);
/// assert_eq!(info.header.map(|h| h.creator_pid()), Some(u64::from(std::process::id())));
/// # Ok(()) }
/// ```
pub fn inspect_segment(name: &str) -> Result<SegmentInfo, InspectError> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let valid = SegmentName::new(name).map_err(InspectError::InvalidName)?;
    match examine(valid.as_str(), false) {
        Ok(Some((info, _))) => Ok(info),
        Ok(None) => Err(InspectError::NotAFile { name: name.to_owned() }),
        Err(Errno::NOENT) => Err(InspectError::NotFound { name: name.to_owned() }),
        Err(e) => Err(InspectError::Io { name: name.to_owned(), source: e.into() }),
    }
}

/// Every regular file in /dev/shm whose name could be a segment's (shm's
/// own lock files and other dot files are left out), sorted by name, with
/// what it is. Files that vanish while listing are left out.
pub fn list_segments() -> io::Result<Vec<SegmentInfo>> {
    let mut all = Vec::new();
    for name in candidate_names()? {
        match examine(&name, false) {
            Ok(Some((info, _))) => all.push(info),
            Err(Errno::ACCESS | Errno::PERM) => all.push(no_access(&name)),
            // Gone meanwhile, a link (ELOOP), a device: not a segment.
            Ok(None) | Err(_) => {}
        }
    }
    Ok(all)
}

/// Removes every stale or abandoned segment (see the module docs) and
/// returns them, each with the status that got it removed. Never removes a
/// live segment, one being initialized, or a file shm did not make.
/// Idempotent, and safe when several processes clean at once (each segment
/// is removed by one of them; the others skip it). Segments of other users
/// are skipped unless the system lets this process remove them.
pub fn clean_stale() -> io::Result<Vec<SegmentInfo>> {
    clean(None, None, false)
}

/// What [`clean_stale`] would remove now, removing nothing.
pub fn find_stale() -> io::Result<Vec<SegmentInfo>> {
    clean(None, None, true)
}
