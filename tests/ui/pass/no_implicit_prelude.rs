#![no_implicit_prelude]

#[derive(::shm_runtime::SharedState, ::core::clone::Clone, ::core::marker::Copy)]
#[repr(C)]
struct Pose {
    x: f64,
    y: f64,
}

#[derive(::shm_runtime::SharedState, ::core::clone::Clone, ::core::marker::Copy)]
#[repr(C)]
struct Wrap<T>(T, [T; 2]);

#[derive(::shm_runtime::SharedState, ::core::clone::Clone, ::core::marker::Copy)]
#[repr(C)]
#[shm(constructors = false)]
struct Wide {
    id: u128,
    count: u64,
    _pad_end: [u8; 8],
}

impl Wide {
    fn create_named() {}
}

fn main() {
    let _ = <Wrap<Pose> as ::shm_runtime::SharedState>::FINGERPRINT;
    let _: fn() -> _ = Pose::create_zeroed;
    let _: fn() -> _ = ::shm_runtime::Shared::<Wide>::create_zeroed;
    Wide::create_named();
}
