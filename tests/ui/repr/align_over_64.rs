use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C, align(128))]
struct Line {
    bytes: [u8; 128],
}

fn main() {}
