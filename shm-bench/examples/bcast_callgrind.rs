//! A one-process driver for counting instructions per item with
//! callgrind: `MemoryInterface<u64>` write / read against
//! `Broadcast<u64>` publish / `Subscriber<u64>` read with one subscriber,
//! under either policy. Instruction counts do not depend on the machine's
//! load, so two code paths compare fairly on a busy machine (a wall-clock
//! figure comes from shm-bench instead: two processes, same run).
//!
//! It moves `count` items (default 10^6) in batches of 256 (publish 256
//! one at a time, then read 256 one at a time) through a ring of 1024
//! slots, checking every item, in `pub_batch` and `recv_batch`, which are
//! kept out of line so that callgrind reports each side's cost on its own:
//!
//! ```text
//! cargo build --profile bench-lto -p shm-bench --example bcast_callgrind
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/bench-lto/examples/bcast_callgrind bp 1000000
//! callgrind_annotate --inclusive=yes cg.out | grep _batch
//! ```
//!
//! Modes: `mi` (`MemoryInterface`), `bp` (`Broadcast`, backpressure),
//! `ow` (`Broadcast`, overwrite); `mi-full` and `bp-full` keep the ring
//! full instead (each item a refused send, a read and a send, in
//! `full_step`), the state of a publisher faster than its reader. Divide each batch function's inclusive
//! count by the item count; or run two counts and divide the difference
//! of the totals by the difference of the counts (setup cancels out).

use shm_runtime::{Broadcast, BroadcastConfig, Consumer, MemoryInterface, Policy, Producer, SharedObject, Subscriber};

const CAPACITY: usize = 1024;
const BATCH: u64 = 256;

/// Either end pair, one item at a time.
trait Pair {
    fn send(&mut self, value: u64) -> bool;
    fn recv(&mut self) -> Option<u64>;
}

struct Ring(MemoryInterface<u64, Producer>, MemoryInterface<u64, Consumer>);

impl Pair for Ring {
    #[inline]
    fn send(&mut self, value: u64) -> bool {
        self.0.write(&value).is_ok()
    }
    #[inline]
    fn recv(&mut self) -> Option<u64> {
        self.1.read()
    }
}

struct Bcast(Broadcast<u64>, Subscriber<u64>);

impl Pair for Bcast {
    #[inline]
    fn send(&mut self, value: u64) -> bool {
        self.0.publish(&value).is_ok()
    }
    #[inline]
    fn recv(&mut self) -> Option<u64> {
        self.1.read().expect("one subscriber keeping up neither lags nor finds corruption")
    }
}

#[inline(never)]
fn pub_batch<P: Pair>(pair: &mut P, first: u64, n: u64) {
    for k in first..first + n {
        assert!(pair.send(k), "a batch fits the ring");
    }
}

#[inline(never)]
fn recv_batch<P: Pair>(pair: &mut P, first: u64, n: u64) {
    for k in first..first + n {
        assert_eq!(pair.recv(), Some(k), "items arrive in order");
    }
}

/// The full ring's steady state (a publisher faster than its reader):
/// each item is one refused send, one read and one send.
#[inline(never)]
fn full_step<P: Pair>(pair: &mut P, k: u64) {
    assert!(!pair.send(u64::MAX), "the ring is full");
    assert_eq!(pair.recv(), Some(k), "items arrive in order");
    assert!(pair.send(k + CAPACITY as u64), "one slot was freed");
}

fn run_full<P: Pair>(pair: &mut P, count: u64) {
    for k in 0..CAPACITY as u64 {
        assert!(pair.send(k), "the ring has room");
    }
    for k in 0..count {
        full_step(pair, k);
    }
}

fn run<P: Pair>(pair: &mut P, count: u64) {
    let mut k = 0;
    while k < count {
        let n = BATCH.min(count - k);
        pub_batch(pair, k, n);
        recv_batch(pair, k, n);
        k += n;
    }
    assert_eq!(pair.recv(), None, "nothing more than was sent");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "bp".to_owned());
    let count: u64 = args.next().map_or(Ok(1_000_000), |c| c.replace('_', "").parse())?;
    let full = mode.ends_with("-full");
    match mode.trim_end_matches("-full") {
        "mi" => {
            let tx = MemoryInterface::<u64, Producer>::create_memorybuf(CAPACITY)?;
            let rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
            let pair = &mut Ring(tx, rx);
            if full { run_full(pair, count) } else { run(pair, count) }
        }
        base @ ("bp" | "ow") => {
            let policy = if base == "bp" { Policy::Backpressure } else { Policy::Overwrite };
            if full && policy == Policy::Overwrite {
                return Err("an overwrite ring is never full".into());
            }
            let tx = Broadcast::<u64>::create(&BroadcastConfig::new(CAPACITY, policy))?;
            let rx = tx.subscribe()?;
            let pair = &mut Bcast(tx, rx);
            if full { run_full(pair, count) } else { run(pair, count) }
        }
        other => return Err(format!("mode {other:?}: expected mi, bp or ow").into()),
    }
    println!("{mode}: {count} items");
    Ok(())
}
