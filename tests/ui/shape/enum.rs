use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
enum Mode {
    Idle,
    Running,
}

fn main() {}
