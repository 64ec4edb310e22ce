use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Lights {
    on: [bool; 8],
}

fn main() {}
