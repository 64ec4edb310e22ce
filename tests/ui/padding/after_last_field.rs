use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Sample {
    value: u64,
    id: u8,
}

fn main() {}
