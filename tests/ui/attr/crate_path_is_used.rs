use shm_runtime::SharedState;

// The generated code uses the given path, and only that path.
#[derive(SharedState, Clone, Copy)]
#[repr(C)]
#[shm(crate = "::no_such_runtime")]
struct Pose {
    x: f64,
}

fn main() {}
