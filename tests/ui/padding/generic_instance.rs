use shm_runtime::SharedState;

// Generic structs are checked for each set of arguments they are used with.
#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Tagged<T> {
    tag: u8,
    value: T,
}

fn main() {
    let _ = Tagged::<u8>::create_sharedobject(&Tagged { tag: 1, value: 2 });
    let _ = Tagged::<u64>::create_sharedobject(&Tagged { tag: 1, value: 2 });
}
