//! Unit tests of parsing, validation and expansion on source text: which
//! errors come out, and which tokens each points at. The UI tests in the
//! workspace's `tests/ui` check the same through the compiler.

use syn::DeriveInput;

use crate::expand;

/// `(message, source text under the caret)` of every error for `source`.
fn errors(source: &str) -> Vec<(String, String)> {
    let input: DeriveInput = syn::parse_str(source).expect("test input is a valid item");
    let Err(error) = expand::derive(&input) else { panic!("expected errors for {source}") };
    error.into_iter().map(|e| (e.to_string(), e.span().source_text().unwrap_or_default())).collect()
}

/// The only error for `source`, as `(message, text under the caret)`.
fn error(source: &str) -> (String, String) {
    let mut all = errors(source);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

/// The expansion of `source`, which must be accepted.
fn expand(source: &str) -> String {
    let input: DeriveInput = syn::parse_str(source).expect("test input is a valid item");
    match expand::derive(&input) {
        Ok(tokens) => tokens.to_string(),
        Err(error) => panic!("unexpected error for {source}: {error}"),
    }
}

#[track_caller]
fn assert_error(source: &str, caret: &str, message_contains: &str) {
    let (message, text) = error(source);
    assert_eq!(text, caret, "caret of {message:?}");
    assert!(message.contains(message_contains), "{message:?} lacks {message_contains:?}");
}

#[test]
fn accepts_named_tuple_generic_and_aligned_structs() {
    let named = expand("#[repr(C)] pub struct Pose { pub x: f64, y: [u32; 2] }");
    assert!(named.contains("__ShmFieldsOfPose"), "{named}");
    assert!(named.contains(":: shm_runtime :: SharedState for Pose"), "{named}");
    let tuple = expand("#[repr(C)] struct Pair(u32, i32);");
    assert!(tuple.contains("offset_of ! (Self , 1)"), "{tuple}");
    let generic = expand("#[repr(C)] struct Wrap<T, const N: usize> where T: Copy { items: [T; N] }");
    assert!(generic.contains("T : :: shm_runtime :: SharedState"), "{generic}");
    expand("#[repr(C, align(8))] struct Aligned { x: u64 }");
    expand("#[repr(align(16))] #[repr(C)] struct TwoAttrs { x: [u64; 2] }");
}

#[test]
fn crate_path_replaces_the_runtime_path() {
    let renamed = expand("#[repr(C)] #[shm(crate = \"my::rt\")] struct S { x: u8 }");
    assert!(renamed.contains("my :: rt :: SharedState for S"), "{renamed}");
    assert!(!renamed.contains("shm_runtime"), "{renamed}");
}

#[test]
fn constructors_false_leaves_out_the_inherent_constructors() {
    let all = expand("#[repr(C)] struct S { x: u8 }");
    for name in
        ["create_sharedobject", "create_named", "create_zeroed", "create_sharedobject_zeroed", "load_sharedobject"]
    {
        assert!(all.contains(&format!("pub fn {name} (")), "{name} missing from {all}");
    }
    assert!(all.contains("deprecated"), "{all}");
    let none = expand("#[repr(C)] #[shm(constructors = false)] struct S { x: u8 }");
    assert!(!none.contains("pub fn"), "{none}");
    assert!(none.contains("SharedState for S"), "{none}");
    let explicit = expand("#[repr(C)] #[shm(crate = \"rt\", constructors = true)] struct S { x: u8 }");
    assert!(explicit.contains("pub fn create_zeroed ("), "{explicit}");
}

#[test]
fn padding_messages_are_built_from_the_layout() {
    let named = expand("#[repr(C)] struct Tagged { tag: u8, value: u32 }");
    for piece in [
        "\"`Tagged` has \"",
        "\" of padding before field `value` (offset \"",
        "\"): add `_pad_before_value: [u8; \"",
        "\"]` before `value`, or order the fields by decreasing alignment\"",
        "\" of padding after its last field `value` (offset \"",
        "\"): add `_pad_end: [u8; \"",
        "\"]` after `value`\"",
    ] {
        assert!(named.contains(piece), "{piece} missing from {named}");
    }
    let tuple = expand("#[repr(C)] struct Pair(u8, u32);");
    assert!(tuple.contains("\"): add a `[u8; \""), "{tuple}");
    assert!(tuple.contains("\"]` field after field `1`\""), "{tuple}");
    // A non-generic struct: one constant per check, so every gap is
    // reported, and one for the schema's limits; a generic one checks in
    // `SCHEMA`.
    assert_eq!(named.matches("const _ : () =").count(), 1 + 4 + 1, "{named}");
    assert!(named.contains("check_schema"), "{named}");
    let generic = expand("#[repr(C)] struct G<T> { tag: u8, value: T }");
    assert_eq!(generic.matches("const _ : () =").count(), 1, "{generic}");
}

#[test]
fn raw_identifiers_are_fingerprinted_without_r_hash() {
    let out = expand("#[repr(C)] struct r#Foo { r#type: u8 }");
    assert!(out.contains("\"type\""), "{out}");
    assert!(out.contains("\"Foo\""), "{out}");
    assert!(out.contains("__ShmFieldsOfFoo"), "{out}");
}

#[test]
fn missing_repr_c_points_at_the_name() {
    assert_error("struct Pose { x: u32 }", "Pose", "add `#[repr(C)]`");
    assert_error("#[repr(align(8))] struct Pose { x: u64 }", "Pose", "needs `#[repr(C)]`");
}

#[test]
fn unsupported_reprs_point_at_the_hint() {
    assert_error("#[repr(C, packed)] struct S { x: u32 }", "packed", "`repr(packed)` is not supported");
    assert_error("#[repr(C, packed(2))] struct S { x: u32 }", "packed(2)", "reorder the fields");
    assert_error("#[repr(C, align(128))] struct S { x: u32 }", "align(128)", "at most `align(64)`");
    // The hint's message says to use `C`; no second error about it.
    assert_error("#[repr(transparent)] struct S { x: u32 }", "transparent", "use `#[repr(C)]`");
    assert_error("#[repr(Rust)] struct S { x: u32 }", "Rust", "use `#[repr(C)]`");
    // `packed` alone is two mistakes: `C` is missing and `packed` is there.
    let all = errors("#[repr(packed)] struct S { x: u32 }");
    let carets: Vec<&str> = all.iter().map(|(_, caret)| caret.as_str()).collect();
    assert_eq!(carets, ["S", "packed"], "{all:#?}");
    assert_error("#[repr(C, u8)] struct S { x: u32 }", "u8", "`repr(u8)` is not supported");
}

#[test]
fn unparsable_repr_is_left_to_the_compiler() {
    expand("#[repr(C)] #[repr = \"C\"] struct S { x: u32 }");
}

#[test]
fn enums_and_unions_point_at_the_keyword() {
    assert_error("#[repr(C)] enum E { A }", "enum", "use a `#[repr(C)]` struct");
    assert_error("#[repr(C)] union U { a: u32 }", "union", "use a `#[repr(C)]` struct");
}

#[test]
fn empty_structs_point_at_the_fields() {
    assert_error("#[repr(C)] struct S {}", "{}", "add at least one field");
    assert_error("#[repr(C)] struct S();", "()", "add at least one field");
    assert_error("#[repr(C)] struct Unit;", "Unit", "is a unit struct");
}

#[test]
fn lifetimes_point_at_the_lifetime() {
    assert_error(
        "#[repr(C)] struct S<'a> { x: u32, m: [u8; 0], p: ::core::marker::PhantomData<&'a ()> }",
        "'a",
        "lifetime",
    );
    let all = errors("#[repr(C)] struct S<'a> { x: u32, m: [&'a u8; 0] }");
    let carets: Vec<&str> = all.iter().map(|(_, caret)| caret.as_str()).collect();
    assert_eq!(carets, ["'a", "&'a u8"], "{all:#?}");
}

#[test]
fn field_types_point_at_the_type_and_say_what_to_use() {
    let cases = [
        ("bool", "bool", "use `shm_runtime::Flag`"),
        ("[[bool; 2]; 3]", "bool", "use `shm_runtime::Flag`"),
        ("(bool)", "bool", "use `shm_runtime::Flag`"),
        ("core::primitive::char", "core::primitive::char", "use `u32`"),
        ("usize", "usize", "use `u64`"),
        ("isize", "isize", "use `i64`"),
        ("&'static u32", "&'static u32", "store the value"),
        ("*const u8", "*const u8", "index or offset as `u64`"),
        ("*mut u8", "*mut u8", "index or offset as `u64`"),
        ("fn()", "fn()", "store a `u32`"),
        ("std::string::String", "std::string::String", "`[u8; 64]`"),
        ("Vec<u8>", "Vec<u8>", "array `[T; N]`"),
        ("Box<u8>", "Box<u8>", "`Box` is not supported"),
        ("std::rc::Rc<u8>", "std::rc::Rc<u8>", "`Rc` is not supported"),
        ("Arc<u8>", "Arc<u8>", "`Arc` is not supported: it points into this process's heap; store the value"),
        ("Option<u32>", "Option<u32>", "`shm_runtime::Flag`"),
        ("(u32, u32)", "(u32, u32)", "use an array"),
        ("()", "()", "remove the field"),
        ("dyn Send", "dyn Send", "concrete type"),
    ];
    for (ty, caret, hint) in cases {
        assert_error(&format!("#[repr(C)] struct S {{ a: u32, b: {ty} }}"), caret, hint);
    }
}

#[test]
fn plain_names_that_look_alike_are_accepted() {
    expand("#[repr(C)] struct S { a: Boolean, b: my::Vector, c: Optional<u8>, d: [u64; 4] }");
}

#[test]
fn every_error_is_reported_at_once() {
    let all = errors(
        "#[shm(crate = \"x\", foo)] #[repr(packed)] struct S { a: bool, #[shm(crate = \"y\")] b: usize, c: &'static str }",
    );
    let carets: Vec<&str> = all.iter().map(|(_, caret)| caret.as_str()).collect();
    assert_eq!(carets, ["foo", "#[shm(crate = \"y\")]", "S", "packed", "bool", "usize", "&'static str"], "{all:#?}");
}

#[test]
fn shm_attribute_errors() {
    assert_error(
        "#[repr(C)] #[shm(crate = \"a\", bogus = 1)] struct S { x: u8 }",
        "bogus",
        "unknown `shm` key `bogus`",
    );
    assert_error("#[repr(C)] #[shm(crate = \"a\")] #[shm(crate = \"b\")] struct S { x: u8 }", "crate", "duplicate");
    assert_error("#[repr(C)] #[shm(crate)] struct S { x: u8 }", "crate", "expected `crate = ");
    assert_error("#[repr(C)] #[shm(crate = 1)] struct S { x: u8 }", "1", "a string holding the path");
    assert_error("#[repr(C)] #[shm(crate = \"not a path\")] struct S { x: u8 }", "\"not a path\"", "path");
    assert_error("#[repr(C)] #[shm] struct S { x: u8 }", "shm", "expected attribute arguments");
    assert_error("#[repr(C)] struct S { #[shm(crate = \"a\")] x: u8 }", "#[shm(crate = \"a\")]", "go on the struct");
}

#[test]
fn constructors_attribute_errors() {
    let usage = "expected `constructors = false`";
    assert_error("#[repr(C)] #[shm(constructors = \"no\")] struct S { x: u8 }", "\"no\"", usage);
    assert_error("#[repr(C)] #[shm(constructors = 0)] struct S { x: u8 }", "0", usage);
    assert_error("#[repr(C)] #[shm(constructors)] struct S { x: u8 }", "constructors", usage);
    assert_error("#[repr(C)] #[shm(constructors(false))] struct S { x: u8 }", "constructors(false)", usage);
    assert_error(
        "#[repr(C)] #[shm(constructors = false, constructors = true)] struct S { x: u8 }",
        "constructors",
        "duplicate `shm` key `constructors`",
    );
    assert_error("#[repr(C)] #[shm(constructor = false)] struct S { x: u8 }", "constructor", "`constructors`, as in");
}
