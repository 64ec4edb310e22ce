use shm_runtime::SharedState;

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
pub struct Rgba(pub u8, pub u8, pub u8, pub u8);

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Image([Rgba; 16], u64);

fn main() {
    let _: fn(&shm_runtime::Shared<Image>) -> u64 = |image| image.read_field(|f| f.1);
    let _: fn(&shm_runtime::Shared<Image>) -> [Rgba; 16] = |image| image.read_field(|f| f.0);
}
