use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
struct Pose {
    x: f64,
    y: f64,
}

fn main() {}
