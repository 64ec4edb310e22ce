// `#[shm(crate = "...")]` points the generated code at the runtime under
// another name: a re-export, or the crate renamed (as by
// `robot_state = { package = "shm-runtime", .. }` in Cargo.toml; the
// package in tests/renamed-runtime does exactly that).
extern crate shm_runtime as robot_state;

mod runtime {
    pub use ::shm_runtime::*;
}

#[derive(runtime::SharedState, Clone, Copy)]
#[repr(C)]
#[shm(crate = "crate::runtime")]
struct Pose {
    x: f64,
}

#[derive(robot_state::SharedState, Clone, Copy)]
#[repr(C)]
#[shm(crate = "::robot_state")]
struct Twist(f64, f64);

fn main() {
    let _ = <Pose as runtime::SharedState>::FINGERPRINT;
    let _ = <Twist as robot_state::SharedState>::FINGERPRINT;
}
