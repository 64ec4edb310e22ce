// Type and const parameters; the derive adds `T: SharedState`.
use shm_runtime::{Flag, SharedState};

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Ring<T, const N: usize>
where
    T: Copy,
{
    items: [T; N],
    head: u32,
    tail: u32,
}

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
pub struct Pair<A: Copy, B = A> {
    pub first: A,
    pub second: B,
}

fn fingerprint<T: SharedState>() -> u64 {
    T::FINGERPRINT
}

fn main() {
    assert_ne!(fingerprint::<Ring<u32, 4>>(), fingerprint::<Ring<i32, 4>>());
    assert_ne!(fingerprint::<Ring<u32, 4>>(), fingerprint::<Ring<u32, 2>>());
    assert_ne!(fingerprint::<Pair<u32>>(), fingerprint::<Pair<u32, f32>>());
    let _ = fingerprint::<Pair<Flag, [Flag; 3]>>();
    let _: fn(&Ring<u64, 8>) -> _ = Ring::create_sharedobject;
}
