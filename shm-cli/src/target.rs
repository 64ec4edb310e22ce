//! What `inspect` and `watch` look at: a segment name or a handle, checked
//! to be a segment of shm owned by this user.

use crate::Failure;
use shm_runtime::Handle;
use shm_runtime::format::{FORMAT_VERSION, STATE_READY};
use shm_runtime::tools::{SegmentInfo, Status, inspect_segment};

/// A segment found in /dev/shm, and the handle that opens it.
pub(crate) struct Target {
    /// What /dev/shm says about it.
    pub info: SegmentInfo,
    /// The handle given, or one built from the header.
    pub handle: Handle,
}

impl Target {
    /// Whether the segment can be opened for its value: ready (live, or
    /// stale: a dead creator's value is still there) and of this format
    /// version. One being set up, abandoned or damaged, or made by another
    /// version of shm (version 2 had no schema), has a header to show and
    /// nothing else.
    pub(crate) fn readable(&self) -> bool {
        matches!(self.info.status, Status::Live | Status::Stale { .. } | Status::Unknown { .. })
            && self.info.header.is_some_and(|h| h.state == STATE_READY && h.format_version == FORMAT_VERSION)
    }
}

/// Finds `text`: a handle if it holds a `:` (segment names cannot), a
/// segment name otherwise.
pub(crate) fn resolve(text: &str) -> Result<Target, Failure> {
    let given: Option<Handle> = if text.contains(':') { Some(text.parse()?) } else { None };
    let name = given.as_ref().map_or(text, |h| h.name().as_str());
    let info = inspect_segment(name)?;
    match info.status {
        Status::Foreign => {
            return Err(Failure(format!("/dev/shm/{} is not a shm segment (foreign: no shm header)", info.name)));
        }
        Status::NoAccess => return Err(Failure(format!("cannot read /dev/shm/{}: permission denied", info.name))),
        _ => {}
    }
    let me = rustix::process::geteuid().as_raw();
    if info.owner_uid != me {
        return Err(Failure(format!(
            "segment {:?} belongs to another user (uid {}, you are uid {me}); shm opens only your own segments",
            info.name, info.owner_uid
        )));
    }
    let handle = match given {
        Some(handle) => handle,
        None => info
            .handle()
            .ok_or_else(|| Failure(format!("segment {:?} has no usable header ({})", info.name, info.status)))?,
    };
    Ok(Target { info, handle })
}
