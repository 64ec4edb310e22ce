//! String and bytes length validation of a byte cell a peer wrote.
//! The invariants are asserted in `shm_runtime::__fuzz::cell_len`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shm_runtime::__fuzz::cell_len(data);
});
