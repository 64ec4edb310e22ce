//! Shared mappings of a file.

use super::Errno;
use core::ffi::c_void;
use core::ptr::NonNull;
use rustix::mm::{MapFlags, ProtFlags};
use std::os::fd::OwnedFd;

/// A live shared, readable and writable `mmap` of a file, unmapped on
/// drop. It hands out its address only; the layer above casts it to
/// atomics in one audited place.
pub(crate) struct Mapping {
    /// Page-aligned start of the mapping.
    base: NonNull<u8>,
    /// Length in bytes.
    len: usize,
}

// SAFETY: the mapping is plain memory that lives until `drop`; this type
// gives out only its address, and every access through it (by the layer
// above) is atomic, so sharing or moving it between threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `fd`'s file.
    pub(crate) fn new(fd: &OwnedFd, len: usize) -> Result<Self, Errno> {
        // SAFETY: a fresh mapping at an address the kernel chooses aliases
        // no Rust memory; it is only ever accessed through atomics.
        let ptr = unsafe {
            rustix::mm::mmap(core::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, fd, 0)
        }?;
        let base = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::NOMEM)?;
        Ok(Self { base, len })
    }

    /// The page-aligned start.
    #[inline]
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned; no reference
        // into the mapping outlives `self` (the layer above borrows them
        // from it).
        let result = unsafe { rustix::mm::munmap(self.base.as_ptr().cast::<c_void>(), self.len) };
        debug_assert!(result.is_ok(), "munmap failed: {result:?}");
    }
}
