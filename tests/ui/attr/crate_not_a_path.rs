use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
#[shm(crate = "shm runtime")]
struct Pose {
    x: f64,
}

fn main() {}
