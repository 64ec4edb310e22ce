// Derived structs inside derived structs, and arrays of them.
use shm_runtime::{Flag, SharedState};

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Vec3 {
    x: f64,
    y: f64,
    z: f64,
}

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Joint {
    position: Vec3,
    velocity: Vec3,
    limits: [f32; 2],
    enabled: Flag,
    _reserved: [u8; 7],
}

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Arm {
    joints: [Joint; 6],
    base: Vec3,
}

fn main() {
    let _ = <Arm as SharedState>::FINGERPRINT;
    let _: fn(&shm_runtime::Shared<Arm>) -> Vec3 = |arm| arm.read_field(|f| f.base);
    let _: fn(&shm_runtime::Shared<Arm>) -> [Joint; 6] = |arm| arm.read_field(|f| f.joints);
}
