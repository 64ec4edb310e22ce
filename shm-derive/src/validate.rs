//! One function per rule the input must follow. Each records its errors on
//! the offending tokens and says what to write instead.
//!
//! These checks read the source text, so they exist for the messages: a
//! type alias of `bool` passes them. What makes the generated `unsafe impl`
//! sound are the checks the compiler does on the generated code (a
//! `SharedState` bound on every field type, const assertions on size,
//! offsets and alignment).

use syn::{GenericParam, Type, TypePath};

use crate::ast::{Input, Style};
use crate::attr::ReprKind;
use crate::ctxt::Ctxt;

/// The largest alignment a shared struct may have (a cache line): the
/// runtime places values at offsets aligned to this.
pub const MAX_ALIGN: u64 = 64;

/// Runs every rule.
pub fn check(input: &Input<'_>, cx: &mut Ctxt) {
    repr_c(input, cx);
    repr_hints(input, cx);
    no_lifetimes(input, cx);
    has_fields(input, cx);
    schema_limits(input, cx);
    for field in &input.fields {
        field_type(field.ty, cx);
    }
}

/// Rule: the struct is `#[repr(C)]`, so its fields stay in declaration
/// order at offsets every build computes the same way. (Not reported when
/// another layout hint is there: `repr_hints` already says to use `C`.)
fn repr_c(input: &Input<'_>, cx: &mut Ctxt) {
    let has_c = input.attrs.repr.iter().any(|hint| matches!(hint.kind, ReprKind::C));
    let has_other_layout = input.attrs.repr.iter().any(|hint| {
        matches!(hint.kind, ReprKind::Transparent | ReprKind::Rust | ReprKind::Primitive | ReprKind::Unknown)
    });
    if !has_c && !has_other_layout && !input.attrs.repr_unparsed {
        cx.error_spanned_by(
            input.ident,
            format_args!(
                "`SharedState` needs `#[repr(C)]` on `{}`: without it the compiler may reorder the \
                 fields; add `#[repr(C)]` to the struct",
                input.name
            ),
        );
    }
}

/// Rule: besides `C`, only `align(N)` with `N` at most 64 is accepted.
/// `packed` is refused by design: shared layouts are natural C layouts
/// with explicit padding fields, and packed fields are unaligned (they
/// cannot be borrowed, and every access is slow). `transparent`, `Rust`
/// and integer reprs are not `C`. `align(N)` is fine whenever the padding
/// checks pass: the const assertions catch the trailing padding it may
/// add.
fn repr_hints(input: &Input<'_>, cx: &mut Ctxt) {
    for hint in &input.attrs.repr {
        let message = match hint.kind {
            // A malformed `align` is reported by the compiler.
            ReprKind::C | ReprKind::Align(None) => continue,
            ReprKind::Align(Some(n)) if n <= MAX_ALIGN => continue,
            ReprKind::Align(Some(_)) => {
                format!("`repr(align)` above {MAX_ALIGN} is not supported: use at most `align({MAX_ALIGN})`")
            }
            ReprKind::Packed => "`repr(packed)` is not supported: shared fields must be aligned; remove it, \
                                 and reorder the fields or add explicit `[u8; N]` fields so there is no padding"
                .to_owned(),
            ReprKind::Transparent => "`repr(transparent)` is not supported: use `#[repr(C)]`".to_owned(),
            ReprKind::Rust => "`repr(Rust)` leaves the layout to the compiler: use `#[repr(C)]`".to_owned(),
            ReprKind::Primitive | ReprKind::Unknown => {
                let text = hint.tokens.to_string().replace(' ', "");
                format!("`repr({text})` is not supported on a `SharedState` struct: use `#[repr(C)]`")
            }
        };
        cx.error_spanned_by(&hint.tokens, message);
    }
}

/// Rule: no lifetime parameters. A shared value cannot borrow anything,
/// and `SharedState` requires `'static`.
fn no_lifetimes(input: &Input<'_>, cx: &mut Ctxt) {
    for param in &input.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            cx.error_spanned_by(
                lifetime,
                "lifetime parameters are not supported: a shared value cannot borrow; remove the \
                 lifetime and store values, not references",
            );
        }
    }
}

/// Rule: at least one field. A zero-sized value has nothing to share (a
/// field of size zero, like `[u8; 0]`, is caught by a const assertion).
fn has_fields(input: &Input<'_>, cx: &mut Ctxt) {
    if input.fields.is_empty() {
        let what = if input.style == Style::Unit { "a unit struct" } else { "a struct without fields" };
        cx.error_at(
            input.fields_span,
            format_args!("`{}` is {what}: zero-sized values cannot be shared; add at least one field", input.name),
        );
    }
}

/// Longest struct or field name a schema holds (`shm_runtime::format::
/// schema::MAX_NAME_LEN`).
const MAX_NAME_LEN: usize = 255;
/// Most fields a schema's struct holds (`shm_runtime::format::schema::
/// MAX_FIELDS`).
const MAX_FIELDS: usize = 1024;

/// Rule: the schema fits the limits every reader enforces (names of at
/// most 255 bytes, at most 1024 fields), so that a peer can read what
/// this struct's segments describe. (The runtime's `schema::check` asserts
/// the same, and the nesting depth and encoded size, at compile time; this
/// rule puts the message on the name.)
fn schema_limits(input: &Input<'_>, cx: &mut Ctxt) {
    if input.name.len() > MAX_NAME_LEN {
        cx.error_spanned_by(
            input.ident,
            format_args!(
                "the struct's name is {} bytes long: a schema holds names of at most 255; shorten it",
                input.name.len()
            ),
        );
    }
    if input.fields.len() > MAX_FIELDS {
        cx.error_at(
            input.fields_span,
            format_args!(
                "`{}` has {} fields: a schema holds at most 1024; group fields into nested structs or arrays",
                input.name,
                input.fields.len()
            ),
        );
    }
    for field in input.fields.iter().filter(|f| f.name.len() > MAX_NAME_LEN) {
        cx.error_at(
            field.span,
            format_args!(
                "the name of this field is {} bytes long: a schema holds names of at most 255; shorten it",
                field.name.len()
            ),
        );
    }
}

/// Rule: field types are plain data with the same layout in every
/// process: no `bool`/`char` (invalid bit patterns), no
/// `usize`/`isize` (target width), no references, pointers or owning
/// types (they point into one process), no tuples (unspecified layout).
/// Looks through arrays and parentheses so `[bool; 4]` is caught at
/// `bool`.
fn field_type(ty: &Type, cx: &mut Ctxt) {
    match ty {
        Type::Array(array) => field_type(&array.elem, cx),
        Type::Group(group) => field_type(&group.elem, cx),
        Type::Paren(paren) => field_type(&paren.elem, cx),
        _ => {
            if let Some(message) = type_message(ty) {
                cx.error_spanned_by(ty, message);
            }
        }
    }
}

/// The message for a field type the derive knows to be wrong, if any.
fn type_message(ty: &Type) -> Option<String> {
    let message = match ty {
        Type::Path(path) => return path_message(path),
        Type::Reference(_) => {
            "references are not supported: a reference points into one process's memory; store the value \
             itself, or an index as `u64`"
        }
        Type::Ptr(_) => {
            "raw pointers are not supported: an address means nothing in another process; store an index \
             or offset as `u64`"
        }
        Type::BareFn(_) => {
            "function pointers are not supported: code addresses differ between processes; store a `u32` \
             that says which function to call"
        }
        Type::Slice(_) => "slices are not supported: a shared field needs a fixed size; use an array `[T; N]`",
        Type::TraitObject(_) | Type::ImplTrait(_) => {
            "trait objects are not supported: they carry a pointer to a vtable; use a concrete type"
        }
        Type::Tuple(tuple) if tuple.elems.is_empty() => "`()` is zero-sized and holds nothing: remove the field",
        Type::Tuple(_) => {
            "tuples are not supported: their layout is unspecified; use an array `[T; N]` or a `#[repr(C)]` \
             struct that derives `SharedState`"
        }
        _ => return None,
    };
    Some(message.to_owned())
}

/// The message for a named type the derive knows to be wrong, if any.
/// Only the last path segment is read, so `std::string::String` and
/// `String` are both caught.
fn path_message(path: &TypePath) -> Option<String> {
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    let bare = last.arguments.is_none();
    let message = match last.ident.to_string().as_str() {
        "bool" if bare => {
            "`bool` is not supported: another process may store a byte other than 0 or 1, which is undefined \
             behaviour for `bool`; use `shm_runtime::Flag`"
        }
        "char" if bare => {
            "`char` is not supported: another process may store a `u32` that is no `char`; use `u32` and \
             convert with `char::from_u32`"
        }
        "usize" if bare => {
            "`usize` is not supported: its width depends on the target, so two programs may disagree on the \
             layout; use `u64`"
        }
        "isize" if bare => {
            "`isize` is not supported: its width depends on the target, so two programs may disagree on the \
             layout; use `i64`"
        }
        "String" => {
            "`String` is not supported: its bytes live on this process's heap; use a byte array such as \
             `[u8; 64]` with a length field"
        }
        "Vec" => {
            "`Vec` is not supported: its elements live on this process's heap; use an array `[T; N]` with a \
             length field"
        }
        name @ ("Box" | "Rc" | "Arc") => {
            return Some(format!(
                "`{name}` is not supported: it points into this process's heap; store the value itself"
            ));
        }
        "Option" => {
            "`Option` is not supported: another process may store a tag that is neither `None` nor `Some`; \
             store the value and a `shm_runtime::Flag` that says whether it is set"
        }
        _ => return None,
    };
    Some(message.to_owned())
}
