use shm_runtime::SharedState;

// `u128` is 16-byte aligned: after one `u64` there is a gap of 8.
#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Balance {
    account: u64,
    amount: u128,
}

fn main() {}
