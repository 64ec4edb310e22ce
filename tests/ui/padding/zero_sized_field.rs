use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Nothing {
    bytes: [u8; 0],
}

fn main() {}
