use shm_runtime::SharedState;

// The text check does not see through the alias; the bound does.
type Switch = bool;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Panel {
    power: Switch,
}

fn main() {}
