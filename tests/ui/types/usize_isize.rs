use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Cursor {
    position: usize,
    delta: isize,
}

fn main() {}
