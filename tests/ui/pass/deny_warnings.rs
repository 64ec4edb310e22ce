// Generated code is clean under strict lints, for public and private types.
#![deny(warnings, missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unused_qualifications, unused_results, rust_2018_idioms, unsafe_op_in_unsafe_fn)]
//! A crate with strict lints.

use shm_runtime::{Flag, SharedState};

/// A public state.
#[derive(SharedState, Clone, Copy, Debug)]
#[repr(C)]
pub struct Public {
    /// A counter.
    pub count: u64,
    flag: Flag,
    _reserved: [u8; 7],
}

#[derive(SharedState, Clone, Copy, Debug)]
#[repr(C)]
struct Private(u32, i32);

/// A public generic state.
#[derive(SharedState, Clone, Copy, Debug)]
#[repr(C)]
pub struct Generic<T, const N: usize> {
    /// The items.
    pub items: [T; N],
}

fn main() {
    let _ = (Public { count: 0, flag: Flag::new(false), _reserved: [0; 7] }, Private(0, 0));
}
