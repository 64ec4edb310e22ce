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

fn main() {
    let _ = <Wrap<Pose> as ::shm_runtime::SharedState>::FINGERPRINT;
}
