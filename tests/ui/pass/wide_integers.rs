// `u128` and `i128` are accepted, in arrays and generic arguments too.
use shm_runtime::{Shared, SharedState};

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Wide {
    id: u128,
    offsets: [i128; 2],
}

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Slot<T>(T);

fn main() {
    let _ = <Wide as SharedState>::FINGERPRINT;
    let _ = <Slot<i128> as SharedState>::FINGERPRINT;
    let _: fn(&Shared<Wide>) -> u128 = |wide| wide.read_field(|f| f.id);
}
