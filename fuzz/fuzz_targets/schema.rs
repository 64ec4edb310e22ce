//! The schema parser on the bytes a peer may write after the payload.
//! The invariants are asserted in `shm_runtime::__fuzz::schema`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shm_runtime::__fuzz::schema(data);
});
