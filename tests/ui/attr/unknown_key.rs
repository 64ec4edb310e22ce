use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
#[shm(crate = "shm_runtime", rename = "Other")]
struct Pose {
    x: f64,
}

fn main() {}
