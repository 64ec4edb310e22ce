//! Header validation against an expected layout and a file size.
//! The invariants are asserted in `shm_runtime::__fuzz::header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shm_runtime::__fuzz::header(data);
});
