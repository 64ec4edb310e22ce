//! `membarrier(2)`: a memory barrier on every CPU running a thread of a
//! registered process, so that one side of a handshake can skip its fence.

use rustix::thread::{MembarrierCommand, membarrier, membarrier_query};

/// Registers this process for global expedited membarriers; `false` where
/// the kernel lacks them or refuses.
pub(crate) fn register_global_expedited() -> bool {
    let supported = membarrier_query();
    supported.contains_command(MembarrierCommand::GlobalExpedited)
        && supported.contains_command(MembarrierCommand::RegisterGlobalExpedited)
        && membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok()
}

/// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`; `false` if it failed.
pub(crate) fn global_expedited() -> bool {
    membarrier(MembarrierCommand::GlobalExpedited).is_ok()
}
