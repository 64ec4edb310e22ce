//! A typed model of the derive input. It borrows the original tokens so
//! that errors and generated checks can point at them.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Generics, Ident, Index, Member, Type, Visibility};

use crate::attr::{self, Container};
use crate::ctxt::Ctxt;

/// A struct the derive can work on.
pub struct Input<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// The struct's name without `r#`, as it goes into `TYPE_NAME`.
    pub name: String,
    /// The struct's visibility, given to the fields descriptor.
    pub vis: &'a Visibility,
    /// The struct's generics.
    pub generics: &'a Generics,
    /// `#[repr]` and `#[shm]`.
    pub attrs: Container,
    /// Named (`{ x: u32 }`), tuple (`(u32)`) or unit.
    pub style: Style,
    /// The fields, in declaration order.
    pub fields: Vec<Field<'a>>,
    /// Where an error about the field list as a whole points: the braces
    /// or parentheses, or the name of a unit struct.
    pub fields_span: Span,
}

/// How the fields are written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `struct S { x: u32 }`
    Named,
    /// `struct S(u32);`
    Tuple,
    /// `struct S;`
    Unit,
}

/// One field.
pub struct Field<'a> {
    /// The field's visibility, given to its descriptor.
    pub vis: &'a Visibility,
    /// How to reach it: `x` or `0`.
    pub member: Member,
    /// Its name for the fingerprint: `x` (without `r#`) or `0`.
    pub name: String,
    /// Its type as written.
    pub ty: &'a Type,
    /// Where errors about this field point: its name, or its type for a
    /// tuple field.
    pub span: Span,
}

impl<'a> Input<'a> {
    /// Builds the model, or records why there is none (enums, unions) and
    /// returns `None`. Attribute errors are recorded either way.
    pub fn from_syn(input: &'a DeriveInput, cx: &mut Ctxt) -> Option<Self> {
        let attrs = Container::from_attrs(&input.attrs, cx);
        let data = match &input.data {
            Data::Struct(data) => data,
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "`SharedState` cannot be derived for enums: another process may write a value \
                     that is no variant; use a `#[repr(C)]` struct with an integer tag field",
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`SharedState` cannot be derived for unions: which bytes are initialized \
                     depends on the variant; use a `#[repr(C)]` struct or a byte array `[u8; N]`",
                );
                return None;
            }
        };
        let (style, fields_span) = match &data.fields {
            Fields::Named(named) => (Style::Named, named.brace_token.span.join()),
            Fields::Unnamed(unnamed) => (Style::Tuple, unnamed.paren_token.span.join()),
            Fields::Unit => (Style::Unit, input.ident.span()),
        };
        let fields = data.fields.iter().enumerate().map(|(i, field)| Field::from_syn(i, field, cx)).collect();
        Some(Self {
            ident: &input.ident,
            name: input.ident.unraw().to_string(),
            vis: &input.vis,
            generics: &input.generics,
            attrs,
            style,
            fields,
            fields_span,
        })
    }

    /// Whether the struct has type or const parameters, so that layout
    /// checks must wait until the type is used with concrete arguments.
    pub fn is_generic(&self) -> bool {
        self.generics.type_params().next().is_some() || self.generics.const_params().next().is_some()
    }
}

impl<'a> Field<'a> {
    fn from_syn(index: usize, field: &'a syn::Field, cx: &mut Ctxt) -> Self {
        attr::reject_field_attrs(&field.attrs, cx);
        let (member, name, span) = match &field.ident {
            Some(ident) => (Member::Named(ident.clone()), ident.unraw().to_string(), ident.span()),
            None => (Member::Unnamed(Index::from(index)), index.to_string(), field.ty.span()),
        };
        Self { vis: &field.vis, member, name, ty: &field.ty, span }
    }
}
