//! What `FORMAT.md` specifies, for tools and programs in other languages
//! that read or write shm's segments: the header at the start of every
//! segment ([`Header`], its constants, [`ObjectKind`]), the process
//! identity word ([`pid_of`]), the liveness lock files
//! ([`LOCK_FILE_PREFIX`]) and the [`schema`] of the stored type (its
//! encoding, parser and fingerprint). Plain values: nothing here touches shared
//! memory or the system.
//!
//! ```
//! use shm_runtime::format::{HEADER_SIZE, Header, MAGIC};
//!
//! // The first bytes of a segment file, as `shm inspect` reads them.
//! let bytes = [0u8; HEADER_SIZE];
//! let header: Header = zerocopy::transmute!(bytes);
//! assert_ne!(header.magic, MAGIC, "zeros are not a segment");
//! ```

pub(crate) mod fingerprint;
pub(crate) mod header;
pub(crate) mod identity;
pub(crate) mod layout;
pub mod schema;

pub use header::{
    Arch, BYTE_ORDER_MARK, FORMAT_VERSION, HEADER_SIZE, Header, MAGIC, ObjectKind, PAYLOAD_ALIGN, STATE_INITIALIZING,
    STATE_READY,
};
pub use identity::{LOCK_FILE_PREFIX, pid_of};
