//! What `FORMAT.md` specifies: the segment header, object kinds and the
//! layout fingerprint, the process identity word. Imports nothing from the
//! other layers.

pub(crate) mod fingerprint;
pub(crate) mod header;
pub(crate) mod identity;
