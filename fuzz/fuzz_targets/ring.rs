//! Ring shape and position validation, and ring operations on garbage positions.
//! The invariants are asserted in `shm_runtime::__fuzz::ring`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shm_runtime::__fuzz::ring(data);
});
