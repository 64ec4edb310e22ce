use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Pose {
    #[shm(skip)]
    x: f64,
}

fn main() {}
