// The generated code names everything by absolute path, so local items
// called like prelude items change nothing.
#![allow(dead_code, non_camel_case_types, unused_macros)]

struct Result;
struct Option;
struct Some;
struct None;
struct Ok;
struct Err;
struct Box;
struct Clone;
struct Copy;
struct str;
struct u64;
struct usize;
mod core {}
mod std {}
mod shm_runtime {}
fn size_of() {}
fn offset_of() {}
macro_rules! assert {
    ($($t:tt)*) => {
        compile_error!("the derive used a local `assert!`")
    };
}

#[derive(::shm_runtime::SharedState, ::core::clone::Clone, ::core::marker::Copy)]
#[repr(C)]
struct Pose {
    x: f64,
    id: u32,
    seq: u32,
}

fn main() {
    let _: fn(&Pose) -> _ = Pose::create_sharedobject;
}
