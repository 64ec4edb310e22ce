//! The atomic protocols over word slices, with no OS access: the loom
//! switch (`sync`), the payload copies (`copy`), the two-copy cell and its
//! writer lock, the ring, the broadcast ring, the byte ring's fragments,
//! role words, the wake handshake, change notification and segment
//! publication. A loom build compiles this layer and runs its models on
//! heap memory.

pub(crate) mod broadcast;
pub(crate) mod cell;
pub(crate) mod copy;
pub(crate) mod fragment;
pub(crate) mod lock;
pub(crate) mod notify;
pub(crate) mod publication;
pub(crate) mod ring;
pub(crate) mod role;
pub(crate) mod sync;
pub(crate) mod wake;
