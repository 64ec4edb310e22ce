//! What users hold: the built-in objects, `Shared<T>`, arrays, rings and
//! the broadcast,
//! each over a [`Segment`](crate::segment::Segment) and a protocol; and
//! [`SharedObject`](shared_object::SharedObject), the one trait for what
//! every object shares.

pub(crate) mod array;
pub(crate) mod boolean;
pub(crate) mod broadcast;
pub(crate) mod bytes;
pub mod dynamic;
#[cfg(feature = "async")]
pub(crate) mod future;
pub(crate) mod int;
pub(crate) mod notify;
pub(crate) mod ring;
pub(crate) mod shared_object;
pub(crate) mod state;
pub(crate) mod string;
