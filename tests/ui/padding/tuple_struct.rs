use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Reading(u8, u16, u64, u32);

fn main() {}
