use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C, align(8))]
struct Word {
    value: u32,
}

fn main() {}
