// `#[shm(constructors = false)]` leaves out the inherent constructors, so
// a type may have methods of those names of its own; `Shared<T>` has them.
use shm_runtime::{Shared, SharedObject, SharedState};

#[derive(SharedState, Clone, Copy)]
#[repr(C)]
#[shm(constructors = false)]
struct Config {
    rate: u32,
    limit: u32,
}

impl Config {
    fn create_named(name: &str) -> Self {
        Self { rate: name.len() as u32, limit: 0 }
    }
    fn create_sharedobject() {}
    fn create_zeroed() {}
    fn create_sharedobject_zeroed() {}
    fn load_sharedobject() {}
}

// Both keys in one attribute, and `true` written out (the default).
#[derive(SharedState, Clone, Copy)]
#[repr(C)]
#[shm(crate = "::shm_runtime", constructors = true)]
struct Limits(u64);

fn main() {
    let _ = Config::create_named("fast");
    Config::create_sharedobject();
    Config::create_zeroed();
    Config::create_sharedobject_zeroed();
    Config::load_sharedobject();
    let _: fn(&Config) -> _ = Shared::<Config>::create_sharedobject;
    let _: fn(&str, &Config) -> _ = Shared::<Config>::create_named;
    let _: fn() -> _ = Shared::<Config>::create_zeroed;
    let _: fn(&_) -> _ = Shared::<Config>::load_sharedobject;
    let _: fn() -> _ = Limits::create_zeroed;
}
