//! Compile-time tests of `#[derive(SharedState)]` (trybuild): every
//! rejected input fails with the message and caret in its `.stderr`, and
//! every accepted one compiles and runs.
//!
//! Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test derive_ui`, then read each one:
//! the caret must sit on the offending field or attribute, and the message
//! must say what to write instead.

/// The folders of `tests/ui` whose cases must fail to compile.
const COMPILE_FAIL: [&str; 7] = ["repr", "shape", "types", "bound", "padding", "attr", "combined"];

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    for folder in COMPILE_FAIL {
        cases.compile_fail(format!("tests/ui/{folder}/*.rs"));
    }
    cases.pass("tests/ui/pass/*.rs");
}
