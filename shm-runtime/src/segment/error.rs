//! Error types: one enum per operation. Every variant names the segment.

use crate::format::header::{Arch, ObjectKind};
use crate::format::schema::{Difference, SchemaError};
use crate::segment::name::{InvalidName, SegmentName};
use crate::segment::stale::Status;
use std::fmt;
use std::io;
use std::time::Duration;

/// Why creating a shared object failed. Nothing is left behind: a
/// half-made segment is removed before this is returned.
///
/// It arises from the arguments (a capacity of 0, a name that is not a
/// valid segment name, sizes that overflow), from /dev/shm (no space, no
/// permission, an I/O error), or from the name being taken:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{CreateError, MemoryInterface, SharedInt, SharedObject};
/// # let name = format!("shmrs-doc-create-error-{}", std::process::id());
/// let first = SharedInt::create_named(&name, 0)?;
/// // A live process holds the name: the message names it and its pid.
/// let taken = SharedInt::create_named(&name, 0).unwrap_err();
/// assert!(matches!(taken, CreateError::AlreadyExists { .. }), "{taken}");
/// assert!(taken.to_string().contains("already exists"), "{taken}");
/// // A ring needs at least one slot.
/// let empty = MemoryInterface::<u64>::create_memorybuf(0).unwrap_err();
/// assert!(matches!(empty, CreateError::InvalidCapacity { .. }), "{empty}");
/// # drop(first);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError {
    /// The requested name breaks a naming rule (no system call was made).
    InvalidName(InvalidName),
    /// A file with this name already exists and is not a segment whose
    /// creator is proven dead (such a one is taken over at once); it was
    /// not touched.
    AlreadyExists {
        /// The segment.
        name: SegmentName,
        /// What the existing file is (`Live`, `Initializing`, `Foreign`,
        /// another user's, ...), when it could be read.
        found: Option<Status>,
        /// The pid of the segment's creator, when the file is a segment.
        creator_pid: Option<u64>,
    },
    /// A capacity the object cannot have (for example zero bytes).
    InvalidCapacity {
        /// The segment that would have been created.
        name: SegmentName,
        /// The capacity asked for.
        capacity: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The requested size does not fit the arithmetic (checked, never
    /// wrapped).
    SizeOverflow {
        /// The segment that would have been created.
        name: SegmentName,
        /// The capacity asked for.
        capacity: usize,
    },
    /// The initial value's length is not the size of the item type (a
    /// [`DynShared`](crate::dynamic::DynShared) created from bytes); no
    /// system call was made.
    WrongSize {
        /// The segment that would have been created.
        name: SegmentName,
        /// Length of the value in bytes.
        len: usize,
        /// Size of the item type in bytes.
        size: usize,
    },
    /// The shared-memory file system has no room for the segment (a full
    /// /dev/shm); reported at creation instead of a `SIGBUS` later.
    OutOfSpace {
        /// The segment that would have been created.
        name: SegmentName,
        /// Bytes that could not be reserved.
        requested: u64,
    },
    /// The operating system refused access.
    PermissionDenied {
        /// The segment.
        name: SegmentName,
        /// The error from the system call.
        source: io::Error,
    },
    /// Another system call failed.
    Io {
        /// The segment.
        name: SegmentName,
        /// Which step failed (`"open"`, `"fallocate"`, `"mmap"`, ...).
        op: &'static str,
        /// The error from the system call.
        source: io::Error,
    },
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => write!(f, "cannot create segment: {e}"),
            Self::AlreadyExists { name, found, creator_pid } => {
                write!(f, "cannot create segment {name:?}: ")?;
                match (found, creator_pid) {
                    (Some(Status::Live), Some(pid)) => write!(
                        f,
                        "a segment with this name already exists and its creator (pid {pid}) is alive; pick another \
                         name, or stop that process"
                    ),
                    (Some(Status::Live) | None, _) => write!(f, "a segment with this name already exists"),
                    (Some(status @ Status::Initializing), _) => {
                        write!(f, "a segment with this name exists ({status})")
                    }
                    (Some(Status::Foreign), _) => write!(
                        f,
                        "/dev/shm/{name} exists and was not made by shm; remove it by hand if nothing needs it"
                    ),
                    (Some(Status::NoAccess), _) => {
                        write!(f, "/dev/shm/{name} exists and belongs to another user")
                    }
                    (Some(status), _) => write!(
                        f,
                        "a segment with this name exists ({status}); if it is stale, `shm clean` run as its \
                         owner removes it"
                    ),
                }
            }
            Self::InvalidCapacity { name, capacity, reason } => {
                write!(f, "cannot create segment {name:?} with capacity {capacity}: {reason}")
            }
            Self::SizeOverflow { name, capacity } => {
                write!(f, "cannot create segment {name:?}: capacity {capacity} makes the segment size overflow")
            }
            Self::WrongSize { name, len, size } => {
                write!(f, "cannot create segment {name:?}: the initial value has {len} bytes, the item type {size}")
            }
            Self::OutOfSpace { name, requested } => write!(
                f,
                "cannot create segment {name:?}: no space left in the shared-memory file system for {requested} bytes"
            ),
            Self::PermissionDenied { name, .. } => write!(f, "cannot create segment {name:?}: permission denied"),
            Self::Io { name, op, source } => write!(f, "cannot create segment {name:?}: {op} failed: {source}"),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidName(e) => Some(e),
            Self::PermissionDenied { source, .. } | Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why opening (loading) a shared object failed.
///
/// It arises from what is (or is not) under the name: nothing there, a
/// file that is not a segment, another user's file, a segment still being
/// set up or abandoned; from what the segment holds against what the
/// opener expects (another kind, another type's layout, another size, a
/// handle of an older segment under a reused name); or from a ring side
/// another live process holds:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{OpenError, OpenOptions, SharedBool, SharedInt, SharedObject};
/// use std::time::Duration;
///
/// let counter = SharedInt::create_sharedobject(0)?;
/// // The handle names a `SharedInt`: opening it as a `SharedBool` fails.
/// let wrong = SharedBool::load_sharedobject(&counter.handle()).unwrap_err();
/// assert!(matches!(wrong, OpenError::KindMismatch { .. }), "{wrong}");
/// // Nothing by that name, and no time given to wait for its creator.
/// let now = OpenOptions::new().wait(Duration::ZERO);
/// let missing = SharedInt::open_with("shmrs-doc-no-such-segment", &now).unwrap_err();
/// assert!(matches!(missing, OpenError::NotFound { .. }), "{missing}");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The name given to `open` is not a valid segment name.
    InvalidName(InvalidName),
    /// No segment has this name.
    NotFound {
        /// The segment.
        name: SegmentName,
    },
    /// The operating system refused access.
    PermissionDenied {
        /// The segment.
        name: SegmentName,
        /// The error from the system call.
        source: io::Error,
    },
    /// The name in /dev/shm is not a regular file (a symbolic link, a
    /// FIFO, a directory, ...), as another user may plant: it was neither
    /// followed nor waited on, and nothing was read or mapped.
    NotAFile {
        /// The segment.
        name: SegmentName,
        /// What the name is instead ("a symbolic link", "a FIFO", ...).
        found: &'static str,
    },
    /// The segment file has fewer bytes backed by memory than its size (a
    /// sparse file): touching its holes would raise `SIGBUS`. shm's
    /// creators reserve every page before publishing a segment, so this is
    /// a forgery or another program's file. Nothing was mapped.
    Sparse {
        /// The segment.
        name: SegmentName,
        /// The file's size in bytes.
        size: u64,
        /// Bytes backed by memory (`st_blocks` × 512).
        allocated: u64,
    },
    /// The segment file is owned by another user than this process's
    /// effective user, and the [`OpenOptions`](crate::OpenOptions) did not
    /// accept that owner (see
    /// [`allow_group_shared`](crate::OpenOptions::allow_group_shared)).
    /// Nothing was mapped.
    ForeignOwner {
        /// The segment.
        name: SegmentName,
        /// The file's owner (user id).
        owner: u32,
        /// The file's group (group id).
        group: u32,
        /// This process's effective user id.
        me: u32,
    },
    /// The segment file's mode grants more than the
    /// [`OpenOptions`](crate::OpenOptions) accept (`0600` by default; group
    /// or other bits, setuid, setgid and sticky count). Nothing was mapped.
    ModeTooWide {
        /// The segment.
        name: SegmentName,
        /// The file's permission bits (`st_mode & 0o7777`).
        mode: u32,
        /// The bits the options accept (`0o600` or `0o660`).
        allowed: u32,
    },
    /// The creator did not finish setting the segment up within the wait.
    NotInitialized {
        /// The segment.
        name: SegmentName,
        /// How long the opener waited.
        waited: Duration,
    },
    /// The creator died before finishing the set-up; the segment will never
    /// become usable.
    InitAbandoned {
        /// The segment.
        name: SegmentName,
        /// The dead creator's process id.
        creator_pid: u64,
    },
    /// The segment does not start with shm's magic bytes: some other
    /// program made it.
    BadMagic {
        /// The segment.
        name: SegmentName,
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The creator has another byte order or pointer width.
    ArchMismatch {
        /// The segment.
        name: SegmentName,
        /// This process.
        expected: Arch,
        /// The header.
        found: Arch,
    },
    /// The creator used another version of the segment format.
    VersionMismatch {
        /// The segment.
        name: SegmentName,
        /// Version this library writes.
        expected: u32,
        /// Version in the header.
        found: u32,
    },
    /// The segment (or the handle) holds another kind of object.
    KindMismatch {
        /// The segment.
        name: SegmentName,
        /// The kind the caller opens.
        expected: ObjectKind,
        /// The kind code found (see [`ObjectKind::code`]).
        found: u32,
    },
    /// The stored type's layout fingerprint differs from the opener's type.
    LayoutMismatch {
        /// The segment.
        name: SegmentName,
        /// Fingerprint of the opener's type.
        expected: u64,
        /// Name of the opener's type.
        expected_type: &'static str,
        /// Fingerprint in the handle or header.
        found: u64,
        /// Name of the type the segment holds, from its header; `None` when
        /// the segment could not be read or holds no well-formed name.
        found_type: Option<String>,
        /// The first field where the two types differ (name, type,
        /// offset), from the schema the segment stores; `None` when the
        /// segment could not be read.
        difference: Option<Box<Difference>>,
    },
    /// The schema the segment stores (the description of its type, after
    /// the payload) is malformed, over a limit, or does not hash to the
    /// header's fingerprint: a peer wrote garbage there.
    BadSchema {
        /// The segment.
        name: SegmentName,
        /// What is wrong with it.
        source: SchemaError,
    },
    /// A ring side is already held by a live process (a ring has one
    /// producer and one consumer).
    RoleTaken {
        /// The segment.
        name: SegmentName,
        /// `"producer"` or `"consumer"`.
        role: &'static str,
        /// Process id of the holder.
        holder: u64,
    },
    /// The header's size disagrees with the real file size.
    SizeMismatch {
        /// The segment.
        name: SegmentName,
        /// Total size the header describes.
        header: u64,
        /// Real size of the file.
        file: u64,
    },
    /// The payload size is not the one this object type has.
    PayloadMismatch {
        /// The segment.
        name: SegmentName,
        /// Payload size of the opener's type.
        expected: u64,
        /// Payload size in the handle.
        found: u64,
    },
    /// The handle disagrees with the header (a tampered or mixed-up handle).
    HandleMismatch {
        /// The segment.
        name: SegmentName,
        /// Which field differs.
        field: &'static str,
        /// Value in the handle.
        handle: u64,
        /// Value in the header.
        header: u64,
    },
    /// The name was removed and created again since the handle was made.
    StaleHandle {
        /// The segment.
        name: SegmentName,
        /// Nonce in the handle.
        handle_nonce: u64,
        /// Nonce of the segment now under that name.
        segment_nonce: u64,
    },
    /// A field holds a value no shm creator writes.
    Corrupt {
        /// The segment.
        name: SegmentName,
        /// What is wrong.
        what: &'static str,
    },
    /// Another system call failed.
    Io {
        /// The segment.
        name: SegmentName,
        /// Which step failed.
        op: &'static str,
        /// The error from the system call.
        source: io::Error,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => write!(f, "cannot open segment: {e}"),
            Self::NotFound { name } => write!(f, "cannot open segment {name:?}: no such segment"),
            Self::PermissionDenied { name, .. } => write!(f, "cannot open segment {name:?}: permission denied"),
            Self::NotAFile { name, found } => write!(
                f,
                "cannot open segment {name:?}: /dev/shm/{name} is {found}, not a regular file (refused without \
                 following or opening it further; someone else may have put it there)"
            ),
            Self::Sparse { name, size, allocated } => write!(
                f,
                "cannot open segment {name:?}: the file is {size} bytes but only {allocated} are backed by memory (a \
                 sparse file, which shm never makes; touching it would crash with SIGBUS)"
            ),
            Self::ForeignOwner { name, owner, group, me } => write!(
                f,
                "cannot open segment {name:?}: it is owned by uid {owner} (group {group}), not by this process's \
                 effective uid {me}; open it with `OpenOptions::allow_group_shared` if group {group} is one of this \
                 process's groups, or with `OpenOptions::allow_any_owner_and_mode` to accept any owner"
            ),
            Self::ModeTooWide { name, mode, allowed } => {
                write!(
                    f,
                    "cannot open segment {name:?}: its mode {mode:04o} grants more than {allowed:04o}; open it with "
                )?;
                if mode & !0o660 == 0 {
                    write!(
                        f,
                        "`OpenOptions::allow_group_shared` to accept a segment shared with a group (up to 0660), or "
                    )?;
                }
                write!(f, "`OpenOptions::allow_any_owner_and_mode` to accept any mode")
            }
            Self::NotInitialized { name, waited } => {
                write!(f, "cannot open segment {name:?}: its creator did not finish initializing it within {waited:?}")
            }
            Self::InitAbandoned { name, creator_pid } => {
                write!(f, "cannot open segment {name:?}: its creator (pid {creator_pid}) died while initializing it")
            }
            Self::BadMagic { name, found } => {
                write!(f, "cannot open segment {name:?}: not made by shm (magic bytes {found:02x?})")
            }
            Self::ArchMismatch { name, expected, found } => {
                write!(f, "cannot open segment {name:?}: made for {found}, this process has {expected}")
            }
            Self::VersionMismatch { name, expected, found } => {
                write!(
                    f,
                    "cannot open segment {name:?}: format version {found}, this library reads version {expected}"
                )?;
                if *found < *expected {
                    // Version 2 segments hold no schema: they are refused,
                    // not guessed at (FORMAT.md, "Older versions").
                    write!(f, " (an older shm made it; re-create it with this version)")?;
                }
                Ok(())
            }
            Self::KindMismatch { name, expected, found } => {
                let found_kind = ObjectKind::from_code(*found).map_or("unknown", ObjectKind::as_str);
                write!(f, "cannot open segment {name:?} as `{expected}`: it holds `{found_kind}` (kind code {found})")
            }
            Self::LayoutMismatch { name, expected, expected_type, found, found_type, difference } => {
                write!(
                    f,
                    "cannot open segment {name:?} as `{expected_type}` (layout fingerprint {expected:#018x}): it holds "
                )?;
                match found_type {
                    Some(found_type) => write!(f, "`{found_type}` (layout fingerprint {found:#018x})")?,
                    None => write!(f, "a type of unknown name with layout fingerprint {found:#018x}")?,
                }
                match difference {
                    Some(difference) => write!(f, ": {difference}"),
                    None => Ok(()),
                }
            }
            Self::BadSchema { name, source } => write!(f, "cannot open segment {name:?}: bad schema: {source}"),
            Self::SizeMismatch { name, header, file } => {
                write!(f, "cannot open segment {name:?}: header describes {header} bytes but the file has {file}")
            }
            Self::PayloadMismatch { name, expected, found } => {
                write!(f, "cannot open segment {name:?}: payload is {found} bytes, this type has {expected}")
            }
            Self::HandleMismatch { name, field, handle, header } => {
                write!(f, "cannot open segment {name:?}: handle says {field} {handle}, header says {header}")
            }
            Self::StaleHandle { name, handle_nonce, segment_nonce } => write!(
                f,
                "cannot open segment {name:?}: stale handle (nonce {handle_nonce:#018x}); the name now holds another segment (nonce {segment_nonce:#018x})"
            ),
            Self::RoleTaken { name, role, holder } => {
                write!(f, "cannot open ring {name:?} as {role}: process {holder} is its {role}")
            }
            Self::Corrupt { name, what } => write!(f, "cannot open segment {name:?}: corrupt header: {what}"),
            Self::Io { name, op, source } => write!(f, "cannot open segment {name:?}: {op} failed: {source}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::PermissionDenied { source, .. } | Self::Io { source, .. } => Some(source),
            Self::InvalidName(e) => Some(e),
            Self::BadSchema { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why removing a segment's name failed.
///
/// It arises when the system refuses to unlink the name (`shm_unlink`
/// fails for another reason than the name being gone already, which is
/// not an error): for example a /dev/shm whose permissions changed under
/// the process. The mapping is released all the same.
#[derive(Debug)]
pub struct CleanupError {
    /// The segment.
    pub name: SegmentName,
    /// The error from `shm_unlink`.
    pub source: io::Error,
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot remove segment {:?}: {}", self.name, self.source)
    }
}

impl std::error::Error for CleanupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Why `share_with_group` (on every creator) failed. The group is changed
/// before the mode, so after a failure the mode is still `0600`.
///
/// It arises when a process that did not create the segment asks, when
/// the group is not one this process may give the file, or when the file
/// under the name is no longer the one it created:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ShareError, SharedInt, SharedObject};
///
/// let counter = SharedInt::create_sharedobject(0)?;
/// let opened = SharedInt::load_sharedobject(&counter.handle())?;
/// let refused = opened.share_with_group(None).unwrap_err();
/// assert!(matches!(refused, ShareError::NotCreator { .. }), "{refused}");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ShareError {
    /// This object did not create the segment in this process (an opener,
    /// or a forked child of the creator); only the creator shares it.
    NotCreator {
        /// The segment.
        name: SegmentName,
    },
    /// The group id is `u32::MAX`, which the system reads as "no change"
    /// (checked before any system call).
    InvalidGroup {
        /// The segment.
        name: SegmentName,
        /// The group id given.
        group: u32,
    },
    /// The name no longer refers to the file this object created (a third
    /// party removed it, and maybe created another under the name); nothing
    /// was changed.
    Replaced {
        /// The segment.
        name: SegmentName,
    },
    /// The operating system refused (for example a group this process is
    /// not a member of).
    PermissionDenied {
        /// The segment.
        name: SegmentName,
        /// The error from the system call.
        source: io::Error,
    },
    /// Another system call failed.
    Io {
        /// The segment.
        name: SegmentName,
        /// Which step failed (`"open"`, `"fchown"`, `"fchmod"`, ...).
        op: &'static str,
        /// The error from the system call.
        source: io::Error,
    },
}

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotCreator { name } => {
                write!(f, "cannot share segment {name:?} with a group: only the process that created it can")
            }
            Self::InvalidGroup { name, group } => {
                write!(f, "cannot share segment {name:?} with group {group}: that value (-1) is not a group id")
            }
            Self::Replaced { name } => write!(
                f,
                "cannot share segment {name:?} with a group: the name no longer refers to the segment this object created"
            ),
            Self::PermissionDenied { name, source } => {
                write!(f, "cannot share segment {name:?} with a group: permission denied ({source})")
            }
            Self::Io { name, op, source } => {
                write!(f, "cannot share segment {name:?} with a group: {op} failed: {source}")
            }
        }
    }
}

impl std::error::Error for ShareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::PermissionDenied { source, .. } | Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why writing a [`SharedString`](crate::SharedString) or
/// [`SharedBytes`](crate::SharedBytes) failed. The stored value is unchanged.
///
/// It arises from the value (longer than the capacity) or from another
/// writer that holds the writer lock too long (or died holding it in a
/// way the liveness lock cannot prove):
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{SharedString, WriteError};
///
/// let text = SharedString::create_sharedobject(4)?;
/// let refused = text.write("too long").unwrap_err();
/// assert!(matches!(refused, WriteError::TooLarge { .. }), "{refused}");
/// assert_eq!(text.read()?, "", "the stored value is unchanged");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// The value is longer than the capacity fixed at creation.
    TooLarge {
        /// The segment.
        name: SegmentName,
        /// Length of the value in bytes.
        len: usize,
        /// Capacity in bytes.
        capacity: usize,
    },
    /// The value's length is not the size of the item type (a
    /// [`DynShared`](crate::dynamic::DynShared) write); nothing was written.
    WrongSize {
        /// The segment.
        name: SegmentName,
        /// Length of the value in bytes.
        len: usize,
        /// Size of the item type in bytes.
        size: usize,
    },
    /// Another writer held the writer lock for longer than the wait and is
    /// still alive (stopped, or its pid was reused).
    LockTimeout {
        /// The segment.
        name: SegmentName,
        /// Process id in the lock word.
        holder: u64,
        /// How long this writer waited.
        waited: Duration,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { name, len, capacity } => {
                write!(f, "cannot write {len} bytes to segment {name:?}: its capacity is {capacity} bytes")
            }
            Self::WrongSize { name, len, size } => {
                write!(f, "cannot write {len} bytes to segment {name:?}: its item type has {size} bytes")
            }
            Self::LockTimeout { name, holder, waited } => {
                write!(f, "cannot write to segment {name:?}: process {holder} held the writer lock for over {waited:?}")
            }
        }
    }
}

impl std::error::Error for WriteError {}

/// Why reading a [`SharedString`](crate::SharedString) or
/// [`SharedBytes`](crate::SharedBytes) failed.
///
/// It arises from what a peer stored (a length over the capacity, bytes
/// that are not UTF-8: only a process that writes the segment's bytes
/// directly can store them), from a buffer too small for the value, or
/// from writers that keep replacing the value faster than it can be
/// copied:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ReadError, SharedBytes};
///
/// let bytes = SharedBytes::create_sharedobject(16)?;
/// bytes.write(b"twelve bytes")?;
/// let mut small = [0u8; 4];
/// let refused = bytes.read_into(&mut small).unwrap_err();
/// assert!(matches!(refused, ReadError::BufferTooSmall { .. }), "{refused}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// A peer stored a length above the capacity.
    Corrupt {
        /// The segment.
        name: SegmentName,
        /// The stored length.
        len: u64,
        /// Capacity in bytes.
        capacity: usize,
    },
    /// A peer stored bytes that are not UTF-8 in a string.
    InvalidUtf8 {
        /// The segment.
        name: SegmentName,
        /// Where decoding failed.
        source: std::str::Utf8Error,
    },
    /// The caller's buffer is shorter than the stored value.
    BufferTooSmall {
        /// The segment.
        name: SegmentName,
        /// Length of the stored value.
        len: usize,
        /// Length of the buffer.
        buffer: usize,
    },
    /// The caller's buffer is not the size of the item type (a
    /// [`DynShared`](crate::dynamic::DynShared) read); nothing was read.
    WrongSize {
        /// The segment.
        name: SegmentName,
        /// Length of the buffer.
        len: usize,
        /// Size of the item type in bytes.
        size: usize,
    },
    /// Writers kept replacing the value faster than it could be copied,
    /// for longer than the read's retry budget.
    Contended {
        /// The segment.
        name: SegmentName,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt { name, len, capacity } => {
                write!(f, "cannot read segment {name:?}: stored length {len} exceeds the capacity {capacity}")
            }
            Self::InvalidUtf8 { name, source } => {
                write!(f, "cannot read segment {name:?}: stored text is not UTF-8 ({source})")
            }
            Self::BufferTooSmall { name, len, buffer } => {
                write!(f, "cannot read segment {name:?}: the value has {len} bytes, the buffer only {buffer}")
            }
            Self::WrongSize { name, len, size } => {
                write!(f, "cannot read segment {name:?} into {len} bytes: its item type has {size} bytes")
            }
            Self::Contended { name } => {
                write!(f, "cannot read segment {name:?}: writers replaced the value faster than it could be copied")
            }
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidUtf8 { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a ring operation that waits, or any operation after the ring was
/// found corrupt, failed.
///
/// It arises from time (nothing happened within the timeout), from the
/// other side (it let go: `Closed`; its process died: `PeerDead`), from a
/// position or header no cooperating peer could store (`Corrupt`), and
/// from messages over a limit or that do not encode or decode:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Consumer, MemoryInterface, RingError, SharedObject};
/// use std::time::Duration;
///
/// let mut tx = MemoryInterface::<u64>::create_memorybuf(4)?;
/// let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
/// let waited = rx.read_timeout(Duration::from_millis(1)).unwrap_err();
/// assert!(matches!(waited, RingError::Timeout { .. }), "{waited}");
/// tx.write(&7).unwrap();
/// drop(tx); // the producer lets go: what it wrote is still read first
/// assert_eq!(rx.read_blocking()?, 7);
/// let closed = rx.read_blocking().unwrap_err();
/// assert!(matches!(closed, RingError::Closed { role: "producer", .. }), "{closed}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// Nothing to read (or no room to write) within the time asked.
    Timeout {
        /// The ring.
        name: SegmentName,
        /// How long the call waited.
        waited: Duration,
    },
    /// The other side's process died; everything it published before
    /// dying has been read (for a consumer).
    PeerDead {
        /// The ring.
        name: SegmentName,
        /// `"producer"` or `"consumer"`: the side that died.
        role: &'static str,
        /// Its process id.
        pid: u64,
    },
    /// The other side let go of the ring (dropped its end); everything it
    /// published before has been read (for a consumer).
    Closed {
        /// The ring.
        name: SegmentName,
        /// `"producer"` or `"consumer"`: the side that left.
        role: &'static str,
    },
    /// A position word (or a byte ring's message header) holds a value no
    /// cooperating peer could have stored. Sticky: every later operation
    /// on this end fails the same way, and no slot is touched.
    Corrupt {
        /// The ring.
        name: SegmentName,
        /// Which word (`"write position"`, `"read position"`, `"message
        /// header"`).
        what: &'static str,
        /// The value found.
        found: u64,
    },
    /// A byte message is longer than the limit: the slot size for a write
    /// (nothing was written), or the consumer's
    /// [`set_max_message_len`](crate::ByteRing::set_max_message_len) for
    /// a read (the message was skipped).
    TooLarge {
        /// The ring.
        name: SegmentName,
        /// Length of the message in bytes (for a read, as far as it was
        /// received).
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// An item buffer is not the size of the ring's item type (a
    /// [`DynRing`](crate::dynamic::DynRing) write or read); nothing was
    /// written or read.
    WrongSize {
        /// The ring.
        name: SegmentName,
        /// Length of the buffer in bytes.
        len: usize,
        /// Size of the item type in bytes.
        size: usize,
    },
    /// A value could not be encoded for
    /// [`ByteRing::write_serde_timeout`](crate::ByteRing); nothing was
    /// written.
    Encode {
        /// The ring.
        name: SegmentName,
        /// What postcard reported.
        reason: String,
    },
    /// A message did not decode as the type asked for (the message was
    /// consumed).
    Decode {
        /// The ring.
        name: SegmentName,
        /// The type asked for.
        type_name: &'static str,
        /// Length of the message in bytes.
        len: usize,
        /// What postcard reported.
        reason: String,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { name, waited } => write!(f, "ring {name:?}: nothing happened within {waited:?}"),
            Self::PeerDead { name, role, pid } => write!(f, "ring {name:?}: its {role} (process {pid}) died"),
            Self::Closed { name, role } => write!(f, "ring {name:?}: its {role} closed its end"),
            Self::Corrupt { name, what, found } => {
                write!(f, "ring {name:?} is corrupt: its {what} is {found}, which no peer could have stored")
            }
            Self::TooLarge { name, len, max } => {
                write!(f, "ring {name:?}: a message of {len} bytes is over the limit of {max} bytes")
            }
            Self::WrongSize { name, len, size } => {
                write!(f, "ring {name:?}: a buffer of {len} bytes is not an item, which has {size} bytes")
            }
            Self::Encode { name, reason } => write!(f, "ring {name:?}: cannot encode the value: {reason}"),
            Self::Decode { name, type_name, len, reason } => {
                write!(f, "ring {name:?}: a message of {len} bytes is not a `{type_name}`: {reason}")
            }
        }
    }
}

impl std::error::Error for RingError {}

/// Why a [`ByteRing`](crate::ByteRing) write failed; nothing was written.
///
/// It arises from the message (longer than a slot; a value that does not
/// encode) or from the ring (full; its consumer let go or died):
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ByteRing, Consumer, SendError, SharedObject};
///
/// let mut tx = ByteRing::create_memorybuf(8, 1)?;
/// let rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
/// assert_eq!(tx.write(b"nine bytes"), Err(SendError::TooLarge { len: 10, slot: 8 }));
/// tx.write(b"one")?;
/// assert_eq!(tx.write(b"two"), Err(SendError::Full));
/// drop(rx);
/// assert_eq!(tx.write(b"two"), Err(SendError::Closed));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No free slot (or the ring was found corrupt: see
    /// [`Ring::error`](crate::Ring::error)).
    Full,
    /// The message is longer than a slot (send it with
    /// [`write_partial`](crate::ByteRing::write_partial)).
    TooLarge {
        /// Length of the message in bytes.
        len: usize,
        /// Slot size in bytes.
        slot: usize,
    },
    /// The item's length is not the size of the ring's item type (a
    /// [`DynRing`](crate::dynamic::DynRing) write).
    WrongSize {
        /// Length of the item in bytes.
        len: usize,
        /// Size of the item type in bytes.
        size: usize,
    },
    /// The value could not be encoded (`write_serde`).
    Encode {
        /// What postcard reported.
        reason: String,
    },
    /// The consumer let go of the ring (dropped its end): nothing written
    /// now would be read unless another consumer attaches (then writes
    /// succeed again).
    Closed,
    /// The ring is full and the consumer's process is dead (noticed when
    /// a write finds the ring full, as for
    /// [`TryWriteError::PeerDead`]).
    PeerDead {
        /// The dead consumer's process id.
        pid: u64,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("the ring is full; nothing was written"),
            Self::TooLarge { len, slot } => {
                write!(f, "a message of {len} bytes does not fit a {slot}-byte slot; nothing was written")
            }
            Self::WrongSize { len, size } => {
                write!(
                    f,
                    "an item of {len} bytes is not of the ring's item type, which has {size}; nothing was written"
                )
            }
            Self::Encode { reason } => write!(f, "cannot encode the value: {reason}; nothing was written"),
            Self::Closed => f.write_str("the ring's consumer closed its end; nothing was written"),
            Self::PeerDead { pid } => {
                write!(f, "the ring's consumer (process {pid}) died; nothing was written")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// Why `open_or_create` failed: creating failed for another reason than
/// an existing object, or opening the existing one failed.
///
/// It arises when the name holds something that is not this kind of
/// object made by this user (creating is refused, and so is opening), or
/// when the object another process created cannot be opened:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{OpenError, OpenOptions, OpenOrCreateError, SharedBool, SharedInt, SharedObject};
/// # let name = format!("shmrs-doc-ooc-error-{}", std::process::id());
/// let int = SharedInt::create_named(&name, 0)?;
/// let options = OpenOptions::new();
/// let refused = SharedBool::open_or_create(&name, &options, |name| SharedBool::create_named(name, false))
///     .unwrap_err();
/// assert!(matches!(refused, OpenOrCreateError::Open(OpenError::KindMismatch { .. })), "{refused}");
/// # drop(int);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum OpenOrCreateError {
    /// Creating failed (the name holds another program's file, or no space,
    /// or ...).
    Create(CreateError),
    /// Another process created the object, and opening it failed (another
    /// kind or type, not ready in time, ...).
    Open(OpenError),
}

impl fmt::Display for OpenOrCreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create(e) => e.fmt(f),
            Self::Open(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OpenOrCreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Create(e) => e.source(),
            Self::Open(e) => e.source(),
        }
    }
}

/// Why a non-blocking [`MemoryInterface::write`](crate::MemoryInterface::write)
/// wrote nothing. The value comes back in every case, and nothing in the
/// ring was overwritten.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Consumer, MemoryInterface, SharedObject, TryWriteError};
///
/// let mut tx = MemoryInterface::<u64>::create_memorybuf(1)?;
/// let rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
/// tx.write(&1).unwrap();
/// // The one slot is taken: the value comes back.
/// assert!(matches!(tx.write(&2), Err(TryWriteError::Full(2))));
/// // The consumer lets go: nobody will read what is written now.
/// drop(rx);
/// let err = tx.write(&3).unwrap_err();
/// assert!(matches!(err, TryWriteError::Closed { value: 3, .. }), "{err}");
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryWriteError<T> {
    /// No free slot now: the consumer has not read far enough (or the ring
    /// was found corrupt: see [`Ring::error`](crate::Ring::error)). Try
    /// again later, or wait with `write_timeout` / `write_blocking`.
    Full(T),
    /// The consumer let go of the ring (dropped its end), so nothing
    /// written now would be read unless another consumer attaches. Not
    /// final: once one does, writes succeed again.
    Closed {
        /// The value that was not written.
        value: T,
        /// The ring.
        name: SegmentName,
    },
    /// The ring is full and the consumer's process is dead (its liveness
    /// lock is gone). A write that finds room does not look (that would
    /// cost a system call per write): a dead consumer is noticed when the
    /// ring fills up, and after that by a full write at most once a
    /// millisecond (one in 64 full writes reads the clock to decide).
    /// Another consumer can take the dead one's place.
    PeerDead {
        /// The value that was not written.
        value: T,
        /// The ring.
        name: SegmentName,
        /// The dead consumer's process id.
        pid: u64,
    },
}

impl<T> TryWriteError<T> {
    /// The value that was not written.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(value) | Self::Closed { value, .. } | Self::PeerDead { value, .. } => value,
        }
    }

    /// Whether the ring was only full (the consumer is there, or has not
    /// come yet), rather than left by its consumer.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

impl<T> fmt::Debug for TryWriteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed { name, .. } => f.debug_struct("Closed").field("name", name).finish_non_exhaustive(),
            Self::PeerDead { name, pid, .. } => {
                f.debug_struct("PeerDead").field("name", name).field("pid", pid).finish_non_exhaustive()
            }
        }
    }
}

impl<T> fmt::Display for TryWriteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the ring is full; the value was not written"),
            Self::Closed { name, .. } => {
                write!(f, "ring {name:?}: its consumer closed its end; the value was not written")
            }
            Self::PeerDead { name, pid, .. } => {
                write!(f, "ring {name:?}: its consumer (process {pid}) died; the value was not written")
            }
        }
    }
}

impl<T> std::error::Error for TryWriteError<T> {}
