use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Links {
    name: &'static str,
    next: *const Links,
    data: *mut u8,
}

fn main() {}
