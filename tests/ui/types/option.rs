use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Reading {
    value: Option<u32>,
}

fn main() {}
