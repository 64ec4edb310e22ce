use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Slot<T> {
    value: T,
}

fn main() {
    let _ = Slot::create_sharedobject(&Slot { value: 'x' });
}
