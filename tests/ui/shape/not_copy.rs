use shm_runtime::SharedState;

#[derive(SharedState)]
#[repr(C)]
struct Counter {
    value: u64,
}

fn main() {}
