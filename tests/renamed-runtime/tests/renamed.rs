//! `#[shm(crate = "...")]` with the runtime renamed in Cargo.toml
//! (`robot_state = { package = "shm-runtime", .. }`): no crate named
//! `shm_runtime` exists here, so generated code that named it would not
//! compile.

use robot_state::{Flag, SharedObject, SharedState};

/// A struct whose generated code must reach the runtime as `robot_state`.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(crate = "robot_state")]
struct Twist {
    linear: [f64; 3],
    angular: [f64; 3],
    stamp: u64,
    moving: Flag,
    _pad: [u8; 7],
}

/// Nested, and a tuple struct.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(crate = "::robot_state")]
struct Command(Twist, u64);

#[test]
fn derived_with_a_renamed_runtime_round_trips() {
    let twist =
        Twist { linear: [1.0, 2.0, 3.0], angular: [0.0, 0.0, 0.5], stamp: 7, moving: Flag::new(true), _pad: [0; 7] };
    let shared = Command::create_sharedobject(&Command(twist, 1)).unwrap();
    let peer = Command::load_sharedobject(&shared.handle()).unwrap();
    assert_eq!(peer.read(), Command(twist, 1));
    peer.update(|c| c.1 += 1).unwrap();
    assert_eq!(shared.read().1, 2);
    assert_eq!(Command::TYPE_NAME, "renamed::Command");
    assert_ne!(Command::FINGERPRINT, Twist::FINGERPRINT);
    let name = shared.name().as_str().to_owned();
    drop(peer);
    shared.cleanup().unwrap();
    assert!(!std::path::Path::new("/dev/shm").join(name).exists(), "cleanup removed the segment");
}
