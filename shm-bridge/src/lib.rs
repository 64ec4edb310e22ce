//! `shm-bridge`: carries shm rings and value objects between hosts over
//! [Zenoh](https://zenoh.io) (peer mode, no broker).
//!
//! A bridge on one host attaches to a local object (`out`: the consumer
//! of a byte ring, a reader of a value object) and publishes every item
//! or every new value on a Zenoh key; a bridge on the other host
//! subscribes to the key and writes into a local object (`in`), creating
//! it if asked. The programs on either side keep using shm as they did.
//!
//! - **Type safety across hosts**: every sample carries the source's
//!   layout fingerprint, and the source's kind, type name and schema
//!   answer queries on `<key>/@schema`; a receiver whose local object has
//!   another layout refuses the stream, naming the differing field.
//! - **Delivery**: reliable Zenoh with blocking congestion control (nothing
//!   lost while both bridges live); a full local ring holds the sender
//!   back; a ring is read only while a receiver is subscribed. Drop mode
//!   (`--drop`) drops instead and counts.
//! - **Gaps**: samples carry the source ring's read positions
//!   ([`wire`]), so after either bridge restarts the receiver reports
//!   exactly which slots never arrived; repeats are refused.
//! - **Garbage**: a sample that is not a bridge's (from a foreign
//!   publisher on the key) is counted, logged and dropped.
//! - **Rates**: each stream prints a live line once a second and keeps
//!   its counters in a `Shared<BridgeStats>` named `<object>.bridge-out`
//!   or `<object>.bridge-in` ([`stats`]), which `shm ls` shows.
//!
//! ```no_run
//! use shm_bridge::{Config, run};
//! use std::sync::atomic::AtomicBool;
//!
//! let config = Config::from_args(&["out", "--from", "camera", "--key", "lab/camera", "--listen", "tcp/0.0.0.0:7447"])?;
//! static STOP: AtomicBool = AtomicBool::new(false);
//! run(&config, &STOP)?;
//! # Ok::<(), String>(())
//! ```

pub mod config;
pub mod link;
pub mod local;
pub mod stats;
pub mod stream;
pub mod trace;
pub mod wire;

pub use config::Config;
pub use link::Link;
pub use stream::{InSpec, OutSpec, Stream};

use std::sync::atomic::{AtomicBool, Ordering};

/// Opens the Zenoh session and runs every stream of `config` on its own
/// thread until `stop` is set or a stream fails; the first failure stops
/// the others and is returned.
pub fn run(config: &Config, stop: &AtomicBool) -> Result<(), String> {
    let session = config.link.open()?;
    // Set by an outside stop or by the first stream that fails; every
    // stream looks at it at least every `local::POLL`. Relaxed: a flag,
    // nothing is published through it.
    let halt = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let threads: Vec<_> = config
            .streams
            .iter()
            .map(|stream| {
                let (session, halt) = (&session, &halt);
                scope.spawn(move || {
                    let result = stream.run(session, config.link.low_latency, config.quiet, halt);
                    if result.is_err() {
                        halt.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        while !threads.iter().all(std::thread::ScopedJoinHandle::is_finished) {
            if stop.load(Ordering::Relaxed) {
                halt.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err("a stream panicked".into())))
            .collect::<Result<Vec<()>, String>>()
    });
    // Closing the session undeclares everything at once; its failure
    // changes nothing for the streams, which have ended.
    let _ = zenoh::Wait::wait(session.close());
    trace::dump();
    result.map(|_| ())
}
