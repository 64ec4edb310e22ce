//! The rings: the two ends every ring is built on (`end`), the typed ring
//! `MemoryInterface<T>` and the byte ring `ByteRing`.

pub(crate) mod byte_ring;
pub(crate) mod end;
pub(crate) mod memory_interface;
