//! Instructions per item of the rings' hot paths, in one process, for
//! `valgrind --tool=callgrind` (load-independent, unlike a timing):
//!
//! ```text
//! cargo build --profile bench-lto -p shm-bench --example ring_callgrind
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*hot_*' \
//!     target/bench-lto/examples/ring_callgrind <case> [items]
//! ```
//!
//! `<case>` is `hand` (the floor's hand ring, `shm-bench/src/hand.rs`),
//! `mi` (`MemoryInterface<u64>` `write` / `read`), `mi-batch`
//! (`write_slice` / `read_into`, 64 at a time) or `byte` (`ByteRing` of
//! 8-byte messages, `write` / `read`). Each writes `items` items (10^6 by
//! default) through a 1024-slot ring, 512 at a time then reads those 512
//! back, so the ring never fills and the path measured is the one a
//! streaming producer and consumer take: every item is checked. The
//! instruction count of the `hot_*` function (callgrind's total with the
//! toggle above) divided by `items` is the cost of one write plus one
//! read. The program prints the wall-clock time too, for orientation
//! only (it is not a benchmark: both sides share one core's caches).

#[path = "../src/hand.rs"]
#[allow(dead_code, reason = "the floor's ring, included whole; the driver uses its push and pop")]
mod hand;
#[path = "../src/raw.rs"]
#[allow(dead_code, reason = "the floor's mappings, included whole; the driver uses RawShm")]
mod raw;

/// What `hand.rs` takes from the harness: the item traits and the
/// sequence stamp, as `shm-bench/src/link.rs` has them.
mod link {
    /// A sending side.
    pub trait Tx {
        fn send(&mut self, next: &mut u64, max: u64) -> crate::Result<u64>;
    }
    /// A receiving side.
    pub trait Rx {
        fn recv(&mut self, expected: &mut u64, max: u64) -> crate::Result<u64>;
    }

    /// Writes the sequence number into the item's first word.
    #[inline]
    pub fn stamp<const N: usize>(item: &mut [u64; N], seq: u64) {
        item[0] = seq;
        item[N - 1] = seq;
    }

    /// Checks an item's sequence number.
    #[inline]
    pub fn check<const N: usize>(item: &[u64; N], expected: u64) -> crate::Result<()> {
        if item[0] == expected && item[N - 1] == expected {
            Ok(())
        } else {
            Err(format!("item {} arrived as {}", expected, item[0]).into())
        }
    }
}

use link::{Rx, Tx};
use shm_runtime::{ByteRing, Consumer, MemoryInterface, SharedObject};
use std::hint::black_box;
use std::time::Instant;

type Error = Box<dyn std::error::Error>;
type Result<T> = std::result::Result<T, Error>;

/// Slots of every ring.
const CAPACITY: usize = 1024;
/// Items written before they are read back.
const BURST: u64 = 512;

#[inline(never)]
fn hot_hand(tx: &mut hand::HandTx<raw::RawShm, 1>, rx: &mut hand::HandRx<raw::RawShm, 1>, items: u64) -> Result<()> {
    let (mut next, mut expected) = (0u64, 0u64);
    while next < items {
        for _ in 0..BURST {
            if tx.send(&mut next, 1)? != 1 {
                return Err("hand ring full".into());
            }
        }
        for _ in 0..BURST {
            if rx.recv(&mut expected, 1)? != 1 {
                return Err("hand ring empty".into());
            }
        }
    }
    Ok(())
}

#[inline(never)]
fn hot_mi(tx: &mut MemoryInterface<u64>, rx: &mut MemoryInterface<u64, Consumer>, items: u64) -> Result<()> {
    let (mut next, mut expected) = (0u64, 0u64);
    while next < items {
        for _ in 0..BURST {
            tx.write(&next).map_err(|e| e.to_string())?;
            next += 1;
        }
        for _ in 0..BURST {
            let Some(got) = rx.read() else { return Err("ring empty".into()) };
            if got != expected {
                return Err(format!("item {expected} arrived as {got}").into());
            }
            expected += 1;
        }
    }
    Ok(())
}

#[inline(never)]
fn hot_mi_batch(tx: &mut MemoryInterface<u64>, rx: &mut MemoryInterface<u64, Consumer>, items: u64) -> Result<()> {
    const BATCH: usize = 64;
    let (mut next, mut expected) = (0u64, 0u64);
    let (mut out, mut inp) = ([0u64; BATCH], [0u64; BATCH]);
    while next < items {
        for _ in 0..BURST / BATCH as u64 {
            for (i, v) in out.iter_mut().enumerate() {
                *v = next + i as u64;
            }
            if tx.write_slice(&out) != BATCH {
                return Err("ring full".into());
            }
            next += BATCH as u64;
        }
        for _ in 0..BURST / BATCH as u64 {
            if rx.read_into(&mut inp) != BATCH {
                return Err("ring empty".into());
            }
            for v in &inp {
                if *v != expected {
                    return Err(format!("item {expected} arrived as {v}").into());
                }
                expected += 1;
            }
        }
    }
    Ok(())
}

#[inline(never)]
fn hot_byte(tx: &mut ByteRing, rx: &mut ByteRing<Consumer>, items: u64) -> Result<()> {
    let (mut next, mut expected) = (0u64, 0u64);
    let mut message = Vec::with_capacity(8);
    while next < items {
        for _ in 0..BURST {
            tx.write(&next.to_ne_bytes())?;
            next += 1;
        }
        for _ in 0..BURST {
            if !rx.read(&mut message)? {
                return Err("ring empty".into());
            }
            if message != expected.to_ne_bytes() {
                return Err(format!("item {expected} arrived as {message:?}").into());
            }
            expected += 1;
        }
    }
    Ok(())
}

#[expect(clippy::cast_precision_loss, reason = "a count of items as a divisor, for a printout")]
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let case = args.first().map_or("mi", String::as_str);
    let items: u64 = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let items = items.div_ceil(BURST) * BURST;
    let start = Instant::now();
    match case {
        "hand" => {
            let name = raw::unique_name("callgrind-hand");
            let bytes = hand::bytes::<1, false>(CAPACITY);
            let (a, b) = (raw::RawShm::create(&name, bytes)?, raw::RawShm::open(&name, bytes)?);
            let (mut tx, mut rx) = (hand::HandTx::<_, 1>::new(a, CAPACITY), hand::HandRx::<_, 1>::new(b, CAPACITY));
            hot_hand(black_box(&mut tx), black_box(&mut rx), items)?;
        }
        "mi" | "mi-batch" => {
            let mut tx = MemoryInterface::<u64>::create_memorybuf(CAPACITY)?;
            let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
            if case == "mi" {
                hot_mi(black_box(&mut tx), black_box(&mut rx), items)?;
            } else {
                hot_mi_batch(black_box(&mut tx), black_box(&mut rx), items)?;
            }
        }
        "byte" => {
            let mut tx = ByteRing::create_memorybuf(8, CAPACITY)?;
            let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
            hot_byte(black_box(&mut tx), black_box(&mut rx), items)?;
        }
        other => return Err(format!("unknown case {other:?}: hand, mi, mi-batch or byte").into()),
    }
    let took = start.elapsed();
    let per_item = took.as_secs_f64() * 1e9 / items as f64;
    println!("{case}: {items} items, {per_item:.1} ns per write+read (wall clock, orientation only)");
    Ok(())
}
