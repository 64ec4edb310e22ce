use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Segment {
    start: (f32, f32),
}

fn main() {}
