//! The attributes the derive reads: `#[repr(...)]` and `#[shm(...)]`.
//!
//! Parsing only records what is written; `validate.rs` decides what is
//! allowed. Malformed `#[shm]` attributes are reported here, malformed
//! `#[repr]` attributes are left to the compiler, which reports them
//! anyway.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Lit, LitInt, Meta, Token};

use crate::ctxt::Ctxt;

/// One hint inside `#[repr(...)]`, with its tokens for error spans.
pub struct ReprHint {
    /// What the hint asks for.
    pub kind: ReprKind,
    /// The hint as written (`C`, `packed(2)`, `align(8)`), for spans.
    pub tokens: TokenStream,
}

/// The representation hints a struct can carry.
pub enum ReprKind {
    /// `C`
    C,
    /// `align(N)`; `None` if `N` is not an integer literal.
    Align(Option<u64>),
    /// `packed` or `packed(N)`
    Packed,
    /// `transparent`
    Transparent,
    /// `Rust`
    Rust,
    /// `u8`, `i32`, ...: only meaningful on enums.
    Primitive,
    /// Anything else (the compiler rejects it too).
    Unknown,
}

/// The struct-level attributes.
#[derive(Default)]
pub struct Container {
    /// Every hint of every `#[repr]`, in order.
    pub repr: Vec<ReprHint>,
    /// Some `#[repr]` did not parse as a list of hints; the compiler
    /// reports it, and the derive must not claim `repr(C)` is missing.
    pub repr_unparsed: bool,
    /// `#[shm(crate = "...")]`.
    pub krate: Option<syn::Path>,
    /// `#[shm(constructors = ...)]`: `Some(false)` leaves out the inherent
    /// constructors; `None` (not written) means `true`.
    pub constructors: Option<bool>,
}

impl Container {
    /// Reads `#[repr]` and `#[shm]` from the struct's attributes,
    /// recording malformed `#[shm]` attributes in `cx`.
    pub fn from_attrs(attrs: &[Attribute], cx: &mut Ctxt) -> Self {
        let mut container = Self::default();
        for attr in attrs {
            if attr.path().is_ident("repr") {
                container.read_repr(attr);
            } else if attr.path().is_ident("shm") {
                container.read_shm(attr, cx);
            }
        }
        container
    }

    fn read_repr(&mut self, attr: &Attribute) {
        let Ok(hints) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
            self.repr_unparsed = true;
            return;
        };
        for hint in hints {
            let kind = repr_kind(&hint);
            self.repr.push(ReprHint { kind, tokens: hint.into_token_stream() });
        }
    }

    fn read_shm(&mut self, attr: &Attribute, cx: &mut Ctxt) {
        let keys = match attr.meta.require_list().and_then(|list| list.parse_args_with(keys_parser)) {
            Ok(keys) => keys,
            Err(error) => {
                cx.push(error);
                return;
            }
        };
        for key in keys {
            let path = key.path();
            if path.is_ident("crate") {
                let Some(krate) = crate_path(&key, cx) else { continue };
                if self.krate.is_some() {
                    cx.error_spanned_by(path, "duplicate `shm` key `crate`: give the runtime path once");
                } else {
                    self.krate = Some(krate);
                }
            } else if path.is_ident("constructors") {
                let Some(value) = constructors_flag(&key, cx) else { continue };
                if self.constructors.is_some() {
                    cx.error_spanned_by(path, "duplicate `shm` key `constructors`: give it once");
                } else {
                    self.constructors = Some(value);
                }
            } else {
                let name = path.to_token_stream().to_string().replace(' ', "");
                cx.error_spanned_by(path, format_args!("unknown `shm` key `{name}`: {KEYS}"));
            }
        }
    }

    /// Whether to generate the inherent constructors (the default).
    pub fn constructors(&self) -> bool {
        self.constructors.unwrap_or(true)
    }
}

/// The keys `#[shm(...)]` takes, for messages.
const KEYS: &str = "the keys are `crate`, as in `#[shm(crate = \"::shm_runtime\")]`, and `constructors`, as in \
                    `#[shm(constructors = false)]`";

/// Fields take no `#[shm(...)]` keys: reports every `#[shm]` found.
pub fn reject_field_attrs(attrs: &[Attribute], cx: &mut Ctxt) {
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("shm")) {
        cx.error_spanned_by(
            attr,
            "`#[shm(...)]` is not accepted on fields: remove it; its keys, `crate` and `constructors`, go on \
             the struct",
        );
    }
}

/// The parser for the inside of `#[shm(...)]`.
fn keys_parser(input: syn::parse::ParseStream<'_>) -> syn::Result<Punctuated<Meta, Token![,]>> {
    Punctuated::parse_terminated(input)
}

/// The path in `crate = "path"`, or `None` after recording why not.
fn crate_path(key: &Meta, cx: &mut Ctxt) -> Option<syn::Path> {
    let usage = "expected `crate = \"path::to::shm_runtime\"`: a string holding the path of the runtime crate";
    let Meta::NameValue(name_value) = key else {
        cx.error_spanned_by(key, usage);
        return None;
    };
    let Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) = &name_value.value else {
        cx.error_spanned_by(&name_value.value, usage);
        return None;
    };
    text.parse::<syn::Path>().map_err(|_| cx.error_spanned_by(text, usage)).ok()
}

/// The `false` in `constructors = false`, or `None` after recording why
/// not (on the value if there is one, else on the key).
fn constructors_flag(key: &Meta, cx: &mut Ctxt) -> Option<bool> {
    let usage = "expected `constructors = false`, which leaves out the generated `create_sharedobject`, \
                 `create_named`, `create_zeroed` and `load_sharedobject` (reach them through \
                 `Shared::<T>` instead), or `constructors = true`, the default";
    let Meta::NameValue(name_value) = key else {
        cx.error_spanned_by(key, usage);
        return None;
    };
    let Expr::Lit(ExprLit { lit: Lit::Bool(flag), .. }) = &name_value.value else {
        cx.error_spanned_by(&name_value.value, usage);
        return None;
    };
    Some(flag.value)
}

/// Classifies one `repr` hint.
fn repr_kind(hint: &Meta) -> ReprKind {
    let path = hint.path();
    let Some(name) = path.get_ident().map(ToString::to_string) else {
        return ReprKind::Unknown;
    };
    match (name.as_str(), hint) {
        ("C", Meta::Path(_)) => ReprKind::C,
        ("align", Meta::List(list)) => {
            ReprKind::Align(list.parse_args::<LitInt>().ok().and_then(|n| n.base10_parse().ok()))
        }
        ("packed", Meta::Path(_) | Meta::List(_)) => ReprKind::Packed,
        ("transparent", Meta::Path(_)) => ReprKind::Transparent,
        ("Rust", Meta::Path(_)) => ReprKind::Rust,
        ("u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128" | "isize", _) => {
            ReprKind::Primitive
        }
        _ => ReprKind::Unknown,
    }
}
