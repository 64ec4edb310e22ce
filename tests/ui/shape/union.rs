use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
