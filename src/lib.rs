//! Examples and integration tests for `shm-runtime` live in this package.
