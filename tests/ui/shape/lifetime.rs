use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct View<'a> {
    len: u64,
    marker: std::marker::PhantomData<&'a u8>,
}

fn main() {}
