//! Code generation: the `SharedState` impl, the fields descriptor, the
//! layout assertions and the inherent constructors.
//!
//! Everything is wrapped in `const _: () = { ... };` so no name leaks into
//! the user's module; paths are absolute (`::core::...`, `#krate::...`)
//! and locals start with `__shm_`, so the user's names (a `Result` of
//! their own, `#![no_implicit_prelude]`) cannot change what the code
//! means.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, LitStr, WhereClause, parse_quote};

use crate::ast::{Field, Input, Style};
use crate::ctxt::Ctxt;
use crate::validate::{self, MAX_ALIGN};

/// Expands `#[derive(SharedState)]` on `node`, or returns every error
/// found in it.
pub fn derive(node: &DeriveInput) -> syn::Result<TokenStream> {
    let mut cx = Ctxt::default();
    let input = Input::from_syn(node, &mut cx);
    if let Some(input) = &input {
        validate::check(input, &mut cx);
    }
    cx.check()?;
    // `from_syn` records an error whenever it returns `None`, so `input`
    // is `Some` here.
    Ok(input.map(|input| Expander::new(&input).expand()).unwrap_or_default())
}

/// What every piece of the generated code needs.
struct Expander<'a> {
    input: &'a Input<'a>,
    /// The runtime crate: `::shm_runtime` or `#[shm(crate = "...")]`.
    krate: syn::Path,
    /// The fields descriptor's name.
    fields_ident: Ident,
    /// The struct's where clause plus `T: SharedState` for every type
    /// parameter `T`.
    bounded: WhereClause,
}

impl<'a> Expander<'a> {
    fn new(input: &'a Input<'a>) -> Self {
        let krate = input.attrs.krate.clone().unwrap_or_else(|| parse_quote!(::shm_runtime));
        let fields_ident = format_ident!("__ShmFieldsOf{}", input.name);
        let mut bounded = input.generics.where_clause.clone().unwrap_or_else(|| parse_quote!(where));
        for param in input.generics.type_params() {
            let ident = &param.ident;
            bounded.predicates.push(parse_quote!(#ident: #krate::SharedState));
        }
        Self { input, krate, fields_ident, bounded }
    }

    fn expand(&self) -> TokenStream {
        let shared_state = self.shared_state_impl();
        let descriptor = self.fields_descriptor();
        let constructors = if self.input.attrs.constructors() { self.constructors() } else { TokenStream::new() };
        // A non-generic struct is checked even if it is never used, each
        // check in a constant of its own so that every gap is reported; a
        // generic one when `FINGERPRINT` is evaluated for its arguments.
        let free_layout_check = if self.input.is_generic() {
            TokenStream::new()
        } else {
            let (ident, krate) = (self.input.ident, &self.krate);
            let checks = self.layout_checks(&quote!(#ident));
            // And its schema within the limits a reader enforces (the
            // trait's `FINGERPRINT` checks it again, for generic ones).
            let schema = self.schema_value(&quote!(#ident));
            quote! {
                #(const _: () = #checks;)*
                const _: () = #krate::__private::check_schema(#schema);
            }
        };
        quote! {
            const _: () = {
                #shared_state
                #descriptor
                #constructors
                #free_layout_check
            };
        }
    }

    /// `unsafe impl SharedState`.
    fn shared_state_impl(&self) -> TokenStream {
        let Self { input, krate, fields_ident, bounded } = self;
        let ident = input.ident;
        let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
        let type_name = LitStr::new(&input.name, ident.span());

        let schema = self.schema_value(&quote!(Self));
        let (layout_asserts, force_layout_check) = if input.is_generic() {
            let checks = self.layout_checks(&quote!(Self));
            (quote!(#(#checks)*), quote!(let _: ::core::primitive::u64 = <Self as #krate::SharedState>::FINGERPRINT;))
        } else {
            (TokenStream::new(), TokenStream::new())
        };
        let descriptor_value = self.descriptor_value();
        let safety = format!(
            "SAFETY: `#[derive(SharedState)]` checks at compile time that every field type of `{}` is \
             `SharedState`, that each field starts where the one before it ends and the last one ends at the \
             size (no padding), that the size is not zero and the alignment at most {MAX_ALIGN}; \
             `SCHEMA` holds every field's name, type schema and `offset_of!`, and the size and alignment, \
             `FINGERPRINT` is its hash, and `FIELDS` holds the `offset_of!` of every field.",
            input.name
        );

        // SAFETY (of the generated impl; `safety` says it in short, as the
        // impl's doc, which expanded code shows as a `/// SAFETY:` comment).
        // Obligation by obligation of `SharedState`'s safety section, each
        // resting on what the compiler checks, not on the attribute text:
        // 1. no padding: the first field starts at offset 0, each next field
        //    where the one before it ends, and the struct ends where the
        //    last field ends, so the fields tile `0..size_of::<Self>()` and
        //    every byte belongs to a field; each field type is
        //    `SharedState`, so has no padding inside. The assertions run in
        //    `free_layout_check` at compile time for a non-generic struct,
        //    and in `SCHEMA` (which the trait's `FINGERPRINT` evaluates,
        //    which every constructor of a `Shared<Self>` evaluates, and
        //    `FIELDS` forces) for each instance of a generic one;
        // 2.-4. every field type is `SharedState`: `assert_shared_state` is
        //    called for each, and type parameters are bounded. So every bit
        //    pattern of each field, hence of the struct, is valid, nothing
        //    holds a pointer, and each field's layout is the same in every
        //    process. `#[repr(C)]` (required by `validate::repr_c`) fixes the
        //    field order so that two builds agree; if they did not, the
        //    offsets in the fingerprint would differ and opening would fail.
        //    `Copy + Send + Sync + 'static` are supertraits: the compiler
        //    checks them on this impl;
        // 5. `size_of::<Self>() > 0` is asserted with the layout;
        // 6. `SCHEMA` holds the name, every field's name, type schema and
        //    `offset_of!`, then `size_of` and `align_of`, all computed by
        //    the compiler; `FINGERPRINT` (the trait's default, not
        //    overridden) is the hash of that schema; each
        //    descriptor in `FIELDS` is made from `offset_of!` of its field,
        //    whose type is the descriptor's `F`.
        quote! {
            #[doc = #safety]
            #[automatically_derived]
            unsafe impl #impl_generics #krate::SharedState for #ident #ty_generics #bounded {
                const TYPE_NAME: &'static ::core::primitive::str =
                    ::core::concat!(::core::module_path!(), "::", #type_name);

                const SCHEMA: &'static #krate::format::schema::TypeDesc = {
                    #layout_asserts
                    #schema
                };

                type Fields = #fields_ident #ty_generics;

                const FIELDS: Self::Fields = {
                    #force_layout_check
                    #descriptor_value
                };

                #[inline]
                fn __shm_derive_only(_: #krate::__private::DeriveOnly) {}
            }
        }
    }

    /// The schema of the struct `this` names (`Self` inside the impl): a
    /// `&TypeDesc` expression of struct and array literals, so that a
    /// constant holding it is `'static`. Each field's type schema comes
    /// from `assert_shared_state::<F>()`, spanned on the field's type: a
    /// type that is not `SharedState` is reported there, once.
    fn schema_value(&self, this: &TokenStream) -> TokenStream {
        let Self { input, krate, .. } = self;
        let type_name = LitStr::new(&input.name, input.ident.span());
        let schema = quote!(#krate::format::schema);
        let fields = input.fields.iter().map(|field| {
            let (ty, member) = (field.ty, &field.member);
            let name = LitStr::new(&field.name, field.span);
            let nested = quote_spanned!(ty.span()=> #krate::__private::assert_shared_state::<#ty>());
            quote! {
                #schema::FieldDesc { name: #name, offset: ::core::mem::offset_of!(#this, #member), ty: #nested }
            }
        });
        quote! {
            &#schema::TypeDesc::Struct(&#schema::StructDesc {
                name: #type_name,
                size: ::core::mem::size_of::<#this>(),
                align: ::core::mem::align_of::<#this>(),
                fields: &[#(#fields,)*],
            })
        }
    }

    /// The checks that prove there is no padding, that the struct is not
    /// zero-sized and not over-aligned, each a block of statements. Every
    /// padding check is spanned on the field it is about and its message,
    /// built at compile time, says how many bytes are missing where.
    fn layout_checks(&self, this: &TokenStream) -> Vec<TokenStream> {
        let input = self.input;
        let name = &input.name;
        let mut checks = Vec::new();
        // `validate::has_fields` guarantees a first field.
        if let Some(first) = input.fields.first() {
            let member = &first.member;
            let label = field_label(&first.name);
            let message = format!("`{name}` has padding before its first {label}: add `#[repr(C)]`");
            checks.push(quote_spanned! {first.span=>
                {
                    ::core::assert!(::core::mem::offset_of!(#this, #member) == 0, #message);
                }
            });
        }
        for pair in input.fields.windows(2) {
            let [prev, field] = pair else { continue };
            checks.push(self.gap_check(this, prev, field));
        }
        if let Some(last) = input.fields.last() {
            checks.push(self.trailing_check(this, last));
        }
        let span = input.ident.span();
        let zero_sized = format!("`{name}` is zero-sized: zero-sized values cannot be shared; add a field");
        let over_aligned =
            format!("`{name}` is aligned to more than {MAX_ALIGN} bytes: use at most `align({MAX_ALIGN})`");
        let max_align = Literal::u64_unsuffixed(MAX_ALIGN);
        checks.push(quote_spanned! {span=>
            {
                ::core::assert!(::core::mem::size_of::<#this>() > 0, #zero_sized);
                ::core::assert!(::core::mem::align_of::<#this>() <= #max_align, #over_aligned);
            }
        });
        checks
    }

    /// Checks that `field` starts where `prev` ends. The message reads
    /// "`S` has 4 bytes of padding before field `b` (offset 4 to 8): add
    /// `_pad_before_b: [u8; 4]` before `b`, or order the fields by
    /// decreasing alignment".
    fn gap_check(&self, this: &TokenStream, prev: &Field<'_>, field: &Field<'_>) -> TokenStream {
        let Self { input, krate, .. } = self;
        let (prev_member, prev_ty, member) = (&prev.member, prev.ty, &field.member);
        let head = format!("`{}` has ", input.name);
        let before = format!(" of padding before {} (offset ", field_label(&field.name));
        let pad_name = format!("_pad_before_{}", field.name);
        let (add, tail) = add_bytes(input.style, &pad_name, "before", &field.name);
        let tail = format!("{tail}, or order the fields by decreasing alignment");
        quote_spanned! {field.span=>
            {
                let __shm_end = ::core::mem::offset_of!(#this, #prev_member) + ::core::mem::size_of::<#prev_ty>();
                let __shm_start = ::core::mem::offset_of!(#this, #member);
                let __shm_gap = __shm_start.saturating_sub(__shm_end);
                ::core::assert!(
                    __shm_start == __shm_end,
                    "{}",
                    #krate::__private::Message::start(#head)
                        .bytes(__shm_gap)
                        .text(#before)
                        .number(__shm_end)
                        .text(" to ")
                        .number(__shm_start)
                        .text(#add)
                        .number(__shm_gap)
                        .text(#tail)
                        .as_str(),
                );
            }
        }
    }

    /// Checks that the struct ends where `last` ends. The message reads
    /// "`S` has 7 bytes of padding after its last field `id` (offset 9 to
    /// 16: the size is rounded up to a multiple of the alignment, 8): add
    /// `_pad_end: [u8; 7]` after `id`". Reordering the fields does not
    /// remove trailing padding, so the message does not suggest it.
    fn trailing_check(&self, this: &TokenStream, last: &Field<'_>) -> TokenStream {
        let Self { input, krate, .. } = self;
        let (member, ty) = (&last.member, last.ty);
        let head = format!("`{}` has ", input.name);
        let after = format!(" of padding after its last {} (offset ", field_label(&last.name));
        let (add, tail) = add_bytes(input.style, "_pad_end", "after", &last.name);
        quote_spanned! {last.span=>
            {
                let __shm_end = ::core::mem::offset_of!(#this, #member) + ::core::mem::size_of::<#ty>();
                let __shm_size = ::core::mem::size_of::<#this>();
                let __shm_gap = __shm_size.saturating_sub(__shm_end);
                ::core::assert!(
                    __shm_size == __shm_end,
                    "{}",
                    #krate::__private::Message::start(#head)
                        .bytes(__shm_gap)
                        .text(#after)
                        .number(__shm_end)
                        .text(" to ")
                        .number(__shm_size)
                        .text(": the size is rounded up to a multiple of the alignment, ")
                        .number(::core::mem::align_of::<#this>())
                        .text(#add)
                        .number(__shm_gap)
                        .text(#tail)
                        .as_str(),
                );
            }
        }
    }

    /// The value of `FIELDS`: one descriptor per field, from `offset_of!`.
    fn descriptor_value(&self) -> TokenStream {
        let Self { input, krate, fields_ident, .. } = self;
        let values = input.fields.iter().map(|field| {
            let member = &field.member;
            // SAFETY (of the generated block): `offset_of!` gives the byte
            // offset of `#member`, whose type is the descriptor's `F`.
            quote!(unsafe { #krate::Field::__new(::core::mem::offset_of!(Self, #member)) })
        });
        match input.style {
            Style::Named => {
                let members = input.fields.iter().map(|field| &field.member);
                quote!(#fields_ident { #(#members: #values,)* })
            }
            Style::Tuple | Style::Unit => quote!(#fields_ident(#(#values,)*)),
        }
    }

    /// The fields descriptor: a struct with a `Field<Self, F>` member per
    /// field, each as visible as the field it describes, and `Clone` and
    /// `Copy` without bounds on the parameters.
    fn fields_descriptor(&self) -> TokenStream {
        let Self { input, krate, fields_ident, .. } = self;
        let (ident, vis, generics) = (input.ident, input.vis, input.generics);
        let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
        let members = input.fields.iter().map(|field| {
            let (vis, ty) = (field.vis, field.ty);
            let member = &field.member;
            let name = (input.style == Style::Named).then(|| quote!(#member:));
            quote!(#vis #name #krate::Field<#ident #ty_generics, #ty>)
        });
        let body = match input.style {
            Style::Named => quote!(#where_clause { #(#members,)* }),
            Style::Tuple | Style::Unit => quote!((#(#members,)*) #where_clause;),
        };
        let doc = format!("Where each field of `{}` sits; the `Fields` of its `SharedState` impl.", input.name);
        quote! {
            #[doc = #doc]
            #[doc(hidden)]
            #[allow(dead_code, reason = "a descriptor is read only when its field is accessed alone")]
            #[allow(missing_debug_implementations, reason = "an implementation detail of the derive")]
            #vis struct #fields_ident #generics #body

            #[automatically_derived]
            impl #impl_generics ::core::clone::Clone for #fields_ident #ty_generics #where_clause {
                #[inline]
                fn clone(&self) -> Self {
                    *self
                }
            }

            #[automatically_derived]
            impl #impl_generics ::core::marker::Copy for #fields_ident #ty_generics #where_clause {}
        }
    }

    /// `create_sharedobject`, `create_named`, `create_zeroed` and
    /// `load_sharedobject`, each delegating to `Shared`, and the deprecated
    /// `create_sharedobject_zeroed`. Left out by
    /// `#[shm(constructors = false)]`.
    fn constructors(&self) -> TokenStream {
        let Self { input, krate, bounded, .. } = self;
        let ident = input.ident;
        let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
        let name = &input.name;
        let result = quote!(::core::result::Result);
        let create_doc = format!(
            "Creates a shared object holding a copy of `initial`, under a generated name. Pass its \
             `handle()` to another process, which opens it with `{name}::load_sharedobject`."
        );
        let named_doc = "Creates a shared object holding a copy of `initial`, under `name`.";
        let zeroed_doc = format!("Creates a shared object holding the all-zero `{name}`, under a generated name.");
        let load_doc =
            format!("Opens the shared object `handle` names, checking that it holds a `{name}` with the same layout.");
        let delegates = "Generated by `#[derive(SharedState)]` (left out with `#[shm(constructors = false)]`): \
                         calls the function of the same name on `Shared<Self>`.";
        let create_errors = "# Errors\n\nReturns a `CreateError` if the segment cannot be created.";
        let load_errors = "# Errors\n\nReturns an `OpenError` if the segment cannot be opened or holds another \
                           type (`LayoutMismatch`).";
        quote! {
            #[automatically_derived]
            #[allow(dead_code, reason = "generated constructors the program may not need")]
            impl #impl_generics #ident #ty_generics #bounded {
                #[doc = #create_doc]
                ///
                #[doc = #delegates]
                ///
                #[doc = #create_errors]
                #[inline]
                pub fn create_sharedobject(
                    initial: &Self,
                ) -> #result<#krate::Shared<Self>, #krate::CreateError> {
                    #krate::Shared::<Self>::create_sharedobject(initial)
                }

                #[doc = #named_doc]
                ///
                #[doc = #delegates]
                ///
                #[doc = #create_errors]
                #[inline]
                pub fn create_named(
                    name: &::core::primitive::str,
                    initial: &Self,
                ) -> #result<#krate::Shared<Self>, #krate::CreateError> {
                    #krate::Shared::<Self>::create_named(name, initial)
                }

                #[doc = #zeroed_doc]
                ///
                #[doc = #delegates]
                ///
                #[doc = #create_errors]
                #[inline]
                pub fn create_zeroed() -> #result<#krate::Shared<Self>, #krate::CreateError> {
                    #krate::Shared::<Self>::create_zeroed()
                }

                #[doc = #zeroed_doc]
                ///
                #[doc = #create_errors]
                #[deprecated(note = "use `create_zeroed`, the name `Shared<T>` uses as well")]
                #[inline]
                pub fn create_sharedobject_zeroed() -> #result<#krate::Shared<Self>, #krate::CreateError> {
                    #krate::Shared::<Self>::create_zeroed()
                }

                #[doc = #load_doc]
                ///
                #[doc = #delegates]
                ///
                #[doc = #load_errors]
                #[inline]
                pub fn load_sharedobject(
                    handle: &#krate::Handle,
                ) -> #result<#krate::Shared<Self>, #krate::OpenError> {
                    <#krate::Shared<Self> as #krate::SharedObject>::load_sharedobject(handle)
                }
            }
        }
    }
}

/// How messages name a field: "field `value`", or "field `1`" of a tuple
/// struct.
fn field_label(name: &str) -> String {
    format!("field `{name}`")
}

/// The remedy of a padding message, in two parts around the number of
/// bytes: "): add `_pad_end: [u8; " and "]` after `id`" for a named field,
/// "): add a `[u8; " and "]` field after field `1`" for a tuple field.
fn add_bytes(style: Style, pad_name: &str, place: &str, name: &str) -> (String, String) {
    match style {
        Style::Named => (format!("): add `{pad_name}: [u8; "), format!("]` {place} `{name}`")),
        Style::Tuple | Style::Unit => ("): add a `[u8; ".to_owned(), format!("]` field {place} field `{name}`")),
    }
}
