//! Empty: this package exists for its test, `tests/renamed.rs`, which
//! derives `SharedState` with the runtime renamed to `robot_state`.
