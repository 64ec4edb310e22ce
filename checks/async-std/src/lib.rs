//! Nothing here: the tests in `tests/` run shm-runtime's async forms under
//! async-std (see `Cargo.toml` for why this is a project of its own).
