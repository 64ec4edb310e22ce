//! Handle text: parsing, and printing then parsing again.
//! The invariants are asserted in `shm_runtime::__fuzz::handle`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shm_runtime::__fuzz::handle(data);
});
