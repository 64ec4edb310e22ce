use shm_runtime::SharedState;

#[derive(Clone, Copy)]
#[repr(C)]
struct Point {
    x: f32,
    y: f32,
}

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Path {
    points: [Point; 16],
}

fn main() {}
