use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Status {
    code: u32,
    ready: bool,
}

fn main() {}
