//! The 64-bit identity word that says which process owns something in a
//! segment (a header's creator, a writer lock, a ring role): `FORMAT.md`,
//! "Process identity".
//!
//! | bits | meaning |
//! |---|---|
//! | 0..32 | pid (for people and tools; never trusted alone) |
//! | 32..48 | slot, 1 to 65534 (0: no lock could be taken) |
//! | 48..64 | token, 1 to 65535, random |
//!
//! The process holds a write lock on bytes `slot * SLOT_BYTES ..
//! slot * SLOT_BYTES + token` of its lock file.

/// Start of the lock file names in /dev/shm; the owner's uid follows
/// (and, where another user planted something under that name, `-` and 16
/// random hex digits).
pub const LOCK_FILE_PREFIX: &str = ".shmrs-live-";

/// First bit of the slot.
pub(crate) const SLOT_SHIFT: u32 = 32;
/// First bit of the token.
pub(crate) const TOKEN_SHIFT: u32 = 48;
/// Highest slot: slot 65535 with token 65535 and pid `u32::MAX` would make
/// `u64::MAX`, which ring role words use for "let go".
pub(crate) const MAX_SLOT: u64 = 0xfffe;
/// Bytes of the lock file each slot spans (tokens are below this).
pub(crate) const SLOT_BYTES: u64 = 1 << 16;

/// The pid part of an identity word.
#[must_use]
pub const fn pid_of(identity: u64) -> u64 {
    identity & 0xffff_ffff
}

/// The lock slot of an identity, 0 for none.
pub(crate) const fn slot_of(identity: u64) -> u64 {
    (identity >> SLOT_SHIFT) & 0xffff
}

/// The token of an identity.
pub(crate) const fn token_of(identity: u64) -> u64 {
    identity >> TOKEN_SHIFT
}

/// The identity of `pid` holding `slot` with `token`.
pub(crate) const fn compose(pid: u64, slot: u64, token: u64) -> u64 {
    pid_of(pid) | (slot << SLOT_SHIFT) | (token << TOKEN_SHIFT)
}
