use shm_runtime::SharedState;

// Every gap of a non-generic struct is reported in one build.
#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Status {
    ready: u8,
    count: u32,
    level: u16,
    stamp: u64,
    code: u8,
}

fn main() {}
