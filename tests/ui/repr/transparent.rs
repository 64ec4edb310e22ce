use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(transparent)]
struct Meters(f64);

fn main() {}
