use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C, packed)]
struct Sample {
    id: u8,
    value: u32,
}

fn main() {}
