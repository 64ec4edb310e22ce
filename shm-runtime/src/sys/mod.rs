//! The operating system: files in /dev/shm and the process's fork-local
//! page. Imports nothing from the layers above.

pub(crate) mod pid;
pub(crate) mod shm_dir;
