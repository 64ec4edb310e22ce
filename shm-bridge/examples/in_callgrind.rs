//! Instructions per item of `in`'s receive path, for
//! `valgrind --tool=callgrind` (load-independent, unlike a timing):
//!
//! ```text
//! cargo build --release --manifest-path shm-bridge/Cargo.toml --example in_callgrind
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*stream::receive*' \
//!     --callgrind-out-file=cg.out shm-bridge/target/release/examples/in_callgrind [SIZE] [ITEMS]
//! ```
//!
//! (from the repository's root; the bridge's own workspace builds into
//! `shm-bridge/target` unless `CARGO_TARGET_DIR` says otherwise).
//!
//! One process, two Zenoh sessions over loopback TCP (so that a sample
//! larger than Zenoh's transport batch arrives fragmented, as it does
//! from another host): the first answers the stream's description and
//! puts `ITEMS` byte-ring samples of `SIZE` bytes (10^3 of 65536 by
//! default) as `shm-bridge out` puts them (the header, then the item as
//! a second piece); the second runs a real `in` stream into a local byte
//! ring of `SIZE`-byte slots, which this process drains, checking every
//! item's number and bytes. Callgrind's total with the toggle above (every sample
//! through the subscriber's callback: header checks, positions, the copy
//! into the ring, the counters) divided by `ITEMS` is the cost of one
//! item. The wall-clock time printed is for orientation only.

use shm_bridge::stream::description_key;
use shm_bridge::wire::{Description, HEADER_LEN, Header};
use shm_bridge::{InSpec, Link, Stream};
use shm_runtime::format::schema::{Schema, builtin};
use shm_runtime::{ByteRing, Consumer, ObjectKind, SharedObject};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use zenoh::Wait;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;

const LIMIT: Duration = Duration::from_secs(600);

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size: usize = args.first().map_or(Ok(65_536), |a| a.parse()).map_err(|_| "SIZE")?;
    let items: u64 = args.get(1).map_or(Ok(1_000), |a| a.parse()).map_err(|_| "ITEMS")?;
    if size < 8 {
        return Err("SIZE is at least 8 (the item's number)".into());
    }
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let key = format!("callgrind/{}/in", std::process::id());
    let ring = format!("shmrs-callgrind-in-{}", std::process::id());
    let source = Link { listen: vec![endpoint.clone()], ..Link::default() }.open()?;
    let sink = Link { connect: vec![endpoint], ..Link::default() }.open()?;
    let description = Description {
        kind: ObjectKind::ByteRing,
        size: size as u64,
        capacity: 64,
        type_name: "ByteRing".into(),
        schema: Schema::from_desc(builtin::BYTES),
    };
    let fingerprint = description.schema.fingerprint();
    let reply = description.encode();
    let zerr = |e: zenoh::Error| e.to_string();
    let _queryable = source
        .declare_queryable(description_key(&key))
        .callback(move |query| {
            let _ = query.reply(query.key_expr().clone(), reply.clone()).wait();
        })
        .wait()
        .map_err(zerr)?;
    let publisher =
        source.declare_publisher(key.clone()).congestion_control(CongestionControl::Block).wait().map_err(zerr)?;
    let stop = AtomicBool::new(false);
    let spec = InSpec { key, to: ring.clone(), create: Some(64), drop: false };
    let started = Instant::now();
    std::thread::scope(|scope| {
        let stream = scope.spawn(|| Stream::In(spec).run(&sink, false, true, &stop));
        let result = (|| {
            let mut rx = loop {
                match ByteRing::<Consumer>::open(&ring) {
                    Ok(rx) => break rx,
                    Err(e) if started.elapsed() > LIMIT => return Err(e.to_string()),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            };
            while !publisher.matching_status().wait().map_err(zerr)?.matching() {
                std::thread::sleep(Duration::from_millis(10));
            }
            let put = scope.spawn(|| {
                for i in 0..items {
                    let mut head = vec![0; HEADER_LEN];
                    let header =
                        Header { kind: ObjectKind::ByteRing, flags: 0, fingerprint, nonce: 7, start: i, end: i + 1 };
                    header.write_to(&mut head);
                    let mut item = vec![0xa5; size];
                    item[..8].copy_from_slice(&i.to_le_bytes());
                    // As `out` puts a long item: header and item, two pieces.
                    let mut writer = ZBytes::writer();
                    writer.append(head.into());
                    writer.append(item.into());
                    publisher.put(writer.finish()).wait().map_err(zerr)?;
                }
                Ok::<(), String>(())
            });
            let mut message = Vec::new();
            for i in 0..items {
                rx.read_timeout(&mut message, LIMIT).map_err(|e| e.to_string())?;
                let got = u64::from_le_bytes(message[..8].try_into().map_err(|_| "short item")?);
                if got != i || message.len() != size || message[8..].iter().any(|&b| b != 0xa5) {
                    return Err(format!(
                        "item {got} of {} bytes where {i} of {size} (0xa5 after the number) was due",
                        message.len()
                    ));
                }
            }
            put.join().map_err(|_| "the publisher panicked".to_string())?
        })();
        stop.store(true, Ordering::Relaxed);
        let stream = stream.join().map_err(|_| "the stream panicked".to_string())?;
        result.and(stream)
    })?;
    println!("{items} items of {size} B through `in` in {:.2?} (wall clock; not a benchmark)", started.elapsed());
    let _ = sink.close().wait();
    let _ = source.close().wait();
    Ok(())
}
