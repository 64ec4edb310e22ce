// `align(N)` up to 64 is accepted when it adds no padding.
use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine {
    words: [u64; 8],
}

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
#[repr(align(16))]
struct Quad([u32; 4]);

fn main() {
    assert_eq!(std::mem::align_of::<CacheLine>(), 64);
    let _ = <Quad as SharedState>::FINGERPRINT;
}
