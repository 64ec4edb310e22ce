// Every mistake is reported in one build, each where it is.
use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(packed)]
#[shm(krate = "shm_runtime")]
struct Robot {
    enabled: bool,
    id: usize,
    name: &'static str,
}

fn main() {}
