//! `#[derive(SharedState)]` for `shm-runtime`. Use it through
//! `shm_runtime::SharedState`, which names both the trait and this derive;
//! this crate is an implementation detail. The user-facing documentation
//! (the table of accepted and rejected field types, with what to use
//! instead) is on the `shm_runtime::SharedState` trait; this page repeats
//! it for those who maintain the derive.
//!
//! ```
//! use shm_runtime::{Flag, SharedObject, SharedState};
//!
//! #[derive(SharedState, Clone, Copy, Debug, PartialEq)]
//! #[repr(C)]
//! pub struct Pose {
//!     pub position: [f64; 3],
//!     pub sequence: u32,
//!     pub valid: Flag,
//!     pub _reserved: [u8; 3],
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pose = Pose { position: [1.0, 2.0, 3.0], sequence: 7, valid: Flag::new(true), _reserved: [0; 3] };
//! let shared = Pose::create_sharedobject(&pose)?;
//! let peer = Pose::load_sharedobject(&shared.handle())?; // in another process
//! assert_eq!(peer.read(), pose);
//! peer.write_field(|f| f.sequence, &8)?;
//! assert_eq!(shared.read_field(|f| f.sequence), 8);
//! # Ok(()) }
//! ```
//!
//! # What is accepted
//!
//! - `#[repr(C)]` structs with named or tuple fields, optionally
//!   `#[repr(C, align(N))]` with `N` at most 64 (as long as the alignment
//!   adds no trailing padding: the padding checks below apply).
//! - Field types that implement `SharedState`: `u8`..`u128`,
//!   `i8`..`i128`, `f32`, `f64`, `shm_runtime::Flag` (for booleans),
//!   arrays `[T; N]` of these, and other structs that derive
//!   `SharedState`. (`u128`/`i128` are 16-byte aligned on `x86_64` and
//!   `aarch64`; the runtime copies values as bytes, so their width is no
//!   concern, and the schema records every offset and the
//!   alignment.)
//! - Generic structs: every type parameter gets a `T: SharedState` bound
//!   in the generated impls. Const parameters pass through.
//!
//! The struct must also be `Copy` (`#[derive(Clone, Copy)]`).
//!
//! # What is rejected, and why
//!
//! Each rejection is a compile error on the offending tokens that says
//! what to write instead:
//!
//! - a struct without `#[repr(C)]` (the compiler may reorder fields),
//!   `repr(packed)` (fields must be aligned), `repr(transparent)`,
//!   `repr(Rust)`, integer reprs, and `align(N)` above 64;
//! - enums and unions (another process may store an invalid tag; union
//!   bytes may be uninitialized), structs without fields, and lifetime
//!   parameters;
//! - fields of type `bool` (use `Flag`), `char` (use `u32`),
//!   `usize`/`isize` (their width depends on the target: use `u64`/`i64`),
//!   references, raw and function pointers (they point into one process),
//!   `String`, `Vec`, `Box`, `Rc`, `Arc` (heap memory of one process: use
//!   fixed arrays), `Option`, tuples, slices and trait objects;
//! - padding anywhere: a gap between fields or after the last one, found
//!   by const assertions on `offset_of!` and `size_of` (computed by the
//!   compiler, not guessed), each on the field it is about, with the
//!   numbers: "`Tagged` has 4 bytes of padding before field `value`
//!   (offset 4 to 8): add `_pad_before_value: [u8; 4]` before `value`, or
//!   order the fields by decreasing alignment". The message is built at
//!   compile time by `shm_runtime::__private::Message` and passed to
//!   `panic!("{}", ..)`, which const evaluation accepts for a `&str`. For
//!   a non-generic struct each gap is its own constant, so all are
//!   reported in one build;
//! - zero-sized structs and alignment above 64;
//! - struct or field names longer than 255 bytes and more than 1024
//!   fields (the limits every reader of the schema enforces);
//! - `#[shm(...)]` keys other than `crate` and `constructors`, values of
//!   `constructors` other than `true` and `false`, and `#[shm]` on fields.
//!
//! The checks on the source text only make the messages good. What makes
//! the generated `unsafe impl` sound is what the compiler checks: a
//! `SharedState` bound on every field type (so a type alias of `bool`
//! still fails) and the layout assertions. For a non-generic struct the
//! assertions run when the crate compiles; for a generic one, when a
//! `Shared<S<..>>` is created or opened for concrete arguments.
//!
//! # What is generated
//!
//! - `unsafe impl SharedState for S` with `TYPE_NAME` (the struct's module path and name),
//!   `SCHEMA` (the struct's name, each field's name, `offset_of!` and type
//!   schema, `size_of` and `align_of`; `FINGERPRINT` is the trait's
//!   default, the hash of the schema) and `FIELDS`;
//! - a hidden fields descriptor, `S::Fields`, with one `Field<S, F>` per
//!   field, as visible as the field itself: `shared.read_field(|f| f.x)`
//!   and `shared.write_field(|f| f.x, &value)` read or write one field
//!   alone (`f.0` for tuple structs);
//! - `S::create_sharedobject(&initial)`, `S::create_named(name, &initial)`,
//!   `S::create_zeroed()` and `S::load_sharedobject(&handle)`, each
//!   returning a `Shared<S>` by calling the function of the same name on
//!   `Shared<S>`, and `S::create_sharedobject_zeroed()`, a deprecated
//!   alias of `create_zeroed` kept from before the two names were one.
//!   `#[shm(constructors = false)]` leaves all five out, for a struct
//!   with methods of those names of its own (`Shared::<S>::create_named`
//!   and the others stay).
//!
//! The generated code is hygienic: it works under
//! `#![no_implicit_prelude]`, with `Result` or `Option` shadowed, and is
//! clean under `#![deny(warnings, missing_docs)]` and clippy's pedantic
//! lints.
//!
//! # The layout fingerprint
//!
//! `FINGERPRINT` is computed at compile time, as the FNV-1a hash of the
//! canonical encoding of `SCHEMA` (`shm-runtime/FORMAT.md`, "Schema"), and
//! stored in every segment with the schema itself; opening a segment whose
//! fingerprint differs fails with `OpenError::LayoutMismatch`, even when
//! the sizes agree, naming the first field that differs. A schema beyond
//! the limits a reader enforces (names over 255 bytes, more than 1024
//! fields, nesting deeper than 32, more than 65536 bytes encoded) is a
//! compile error. It changes when any of these change:
//!
//! - the struct's name, as written (not its module path);
//! - any field's name (the index for tuple fields), the order of the
//!   fields, and any field's type, through that type's own fingerprint:
//!   a nested struct's whole layout, an array's element type and length,
//!   and signedness and width of numbers (`u32` and `i32` differ);
//! - any field's offset, and the struct's size and alignment (so adding
//!   `align(N)` changes it).
//!
//! It does **not** change with field visibility, doc comments or other
//! attributes, the module the struct lives in, generic parameter names
//! (only the concrete field types count), or the `#[shm(crate = "...")]`
//! path.
//!
//! # Attributes
//!
//! On the struct, `#[shm(crate = "path")]` makes the generated code use
//! `path` instead of `::shm_runtime`, for crates that rename the runtime
//! dependency or re-export it, and `#[shm(constructors = false)]` leaves
//! out the inherent constructors. Both keys may share one attribute:
//! `#[shm(crate = "rt", constructors = false)]`.

mod ast;
mod attr;
mod ctxt;
mod expand;
#[cfg(test)]
mod tests;
mod validate;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `SharedState` for a `#[repr(C)]` struct of plain fields and
/// adds `create_sharedobject`, `create_named`, `create_zeroed` and
/// `load_sharedobject` to it (unless `#[shm(constructors = false)]`). See
/// the crate documentation for what is accepted and what the fingerprint
/// covers.
#[proc_macro_derive(SharedState, attributes(shm))]
pub fn derive_shared_state(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}
