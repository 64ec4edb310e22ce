//! Looking at /dev/shm from outside an object: listing, inspecting and
//! removing stale segments, and `Peek` (read-only, claims nothing).

pub(crate) mod inspect;
pub(crate) mod peek;
