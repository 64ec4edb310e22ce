use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
#[shm(constructors = "no")]
struct Pose {
    x: f64,
}

fn main() {}
