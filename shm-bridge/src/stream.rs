//! One stream of a bridge: `out` (a local object to a key) or `in` (a key
//! to a local object), each run on its own thread until asked to stop.

use crate::local::{Next, POLL, Put, Sent, Sink, Source};
use crate::stats::{Stats, stats_name};
use crate::wire::{self, BATCH, Description, HEADER_LEN, HEARTBEAT, Header, Items, RECORD_LEN};
use shm_runtime::ObjectKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;
use zenoh::{Session, Wait};

/// `out`: carry a local object to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutSpec {
    /// The local object's segment name.
    pub from: String,
    /// The Zenoh key expression to publish on.
    pub key: String,
    /// Drop mode: Zenoh drops samples under congestion instead of
    /// blocking (the receiver counts them as gaps).
    pub drop: bool,
}

/// `in`: carry a key into a local object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InSpec {
    /// The Zenoh key expression to subscribe to.
    pub key: String,
    /// The local object's segment name.
    pub to: String,
    /// Create the object if it does not exist: for a ring, with this many
    /// slots; value objects take their size from the remote source.
    pub create: Option<u64>,
    /// Drop mode: an item that finds the local ring full is dropped and
    /// counted instead of waiting for room.
    pub drop: bool,
}

/// One stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stream {
    /// A local object published on a key.
    Out(OutSpec),
    /// A key written into a local object.
    In(InSpec),
}

impl Stream {
    /// Runs the stream until `stop` is set or it fails.
    pub fn run(&self, session: &Session, quiet: bool, stop: &AtomicBool) -> Result<(), String> {
        match self {
            Self::Out(spec) => run_out(session, spec, quiet, stop),
            Self::In(spec) => run_in(session, spec, quiet, stop),
        }
        .map_err(|e| format!("{self}: {e}"))
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Out(s) => write!(f, "out {} -> {}", s.from, s.key),
            Self::In(s) => write!(f, "in {} -> {}", s.key, s.to),
        }
    }
}

/// A batch sample stops taking items once it holds this many bytes
/// (Zenoh's own transport batches are at most 64 KiB).
const BATCH_BYTES: usize = 16 * 1024;

/// A plain sample's item at least this long is handed to Zenoh as it is,
/// behind the header (a sample of two pieces), rather than copied into a
/// buffer after the header.
const MOVE_BYTES: usize = 4096;

/// A plain sample: `header` and the item in `message`. A long item's
/// buffer is moved into the sample, not copied (`message` is left empty,
/// to be filled again by the next read).
fn plain_sample(header: &Header, message: &mut Vec<u8>) -> ZBytes {
    if message.len() < MOVE_BYTES {
        let mut sample = Vec::with_capacity(HEADER_LEN + message.len());
        sample.resize(HEADER_LEN, 0);
        header.write_to(&mut sample);
        sample.extend_from_slice(message);
        return sample.into();
    }
    let mut head = vec![0; HEADER_LEN];
    header.write_to(&mut head);
    let mut writer = ZBytes::writer();
    writer.append(head.into());
    writer.append(std::mem::take(message).into());
    writer.finish()
}

/// The key a stream's description is queried on.
pub fn description_key(key: &str) -> String {
    format!("{key}/@schema")
}

fn run_out(session: &Session, spec: &OutSpec, quiet: bool, stop: &AtomicBool) -> Result<(), String> {
    let (mut source, description, nonce) = Source::open(&spec.from)?;
    let label = Stream::Out(spec.clone()).to_string();
    let (mut stats, _) = Stats::create(&stats_name(&spec.from, "out"), label, quiet, 1)?;
    let zerr = |e: zenoh::Error| e.to_string();
    let reply = description.encode();
    let _queryable = session
        .declare_queryable(description_key(&spec.key))
        .callback(move |query| {
            // A reply that fails is the querier's loss; it asks again.
            let _ = query.reply(query.key_expr().clone(), reply.clone()).wait();
        })
        .wait()
        .map_err(zerr)?;
    let congestion = if spec.drop { CongestionControl::Drop } else { CongestionControl::Block };
    let publisher = session.declare_publisher(spec.key.clone()).congestion_control(congestion).wait().map_err(zerr)?;
    // A ring's items are taken only while a subscriber matches the key:
    // an item taken with nobody to receive it would be lost, while one
    // left in the ring holds the producer back (backpressure).
    let matching = Arc::new(AtomicBool::new(publisher.matching_status().wait().map_err(zerr)?.matching()));
    let flag = Arc::clone(&matching);
    let _listener = publisher
        .matching_listener()
        // Relaxed: a hint read by the loop below; nothing else is
        // published through it.
        .callback(move |status| flag.store(status.matching(), Ordering::Relaxed))
        .wait()
        .map_err(zerr)?;
    let is_ring = matches!(description.kind, ObjectKind::ByteRing | ObjectKind::Ring | ObjectKind::Broadcast);
    let fingerprint = description.schema.fingerprint();
    let mut message = Vec::new();
    let mut next = Vec::new();
    // An item taken from the ring that could not join the batch before
    // it (its positions do not follow): sent first next time round.
    let mut carried: Option<(u64, u64)> = None;
    let mut sent = Sent::default();
    while !stop.load(Ordering::Relaxed) {
        stats.tick();
        if carried.is_none() && is_ring && !matching.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let (start, end, flags) = if let Some((start, end)) = carried.take() {
            (start, end, 0)
        } else {
            match source.next(&mut message, &mut sent)? {
                Next::Item { start, end, flags } => (start, end, flags),
                Next::Idle => continue,
                Next::Ended => break,
            }
        };
        let header = Header { kind: description.kind, flags, fingerprint, nonce, start, end };
        // Items already waiting in the ring go in the same sample (never
        // waiting for more: a lone item leaves at once).
        let second = if is_ring && message.len() < BATCH_BYTES { source.try_next(&mut next)? } else { None };
        let Some((second_start, second_end)) = second else {
            let len = message.len() as u64;
            publisher.put(plain_sample(&header, &mut message)).wait().map_err(zerr)?;
            if flags & HEARTBEAT == 0 {
                stats.now.messages += 1;
                stats.now.bytes += len;
            }
            continue;
        };
        let mut sample = Vec::with_capacity(BATCH_BYTES + HEADER_LEN + 2 * RECORD_LEN + message.len() + next.len());
        sample.resize(HEADER_LEN, 0);
        let mut batch_end = start;
        let (mut items, mut bytes) = (0_u64, 0_u64);
        let mut add = |sample: &mut Vec<u8>, item: &[u8], (s, e): (u64, u64), batch_end: &mut u64| {
            // Positions read from the segment: a backwards pair (a
            // corrupt segment) joins no batch.
            if s != *batch_end || e.checked_sub(s).and_then(|n| wire::push_record(sample, item, n)).is_none() {
                return false;
            }
            *batch_end = e;
            items += 1;
            bytes += item.len() as u64;
            true
        };
        if !add(&mut sample, &message, (start, end), &mut batch_end) {
            // Too large for a record: alone, as a plain sample.
            stats.now.messages += 1;
            stats.now.bytes += message.len() as u64;
            publisher.put(plain_sample(&header, &mut message)).wait().map_err(zerr)?;
            std::mem::swap(&mut message, &mut next);
            carried = Some((second_start, second_end));
            continue;
        }
        let mut taken = Some((second_start, second_end));
        while let Some(positions) = taken {
            if !add(&mut sample, &next, positions, &mut batch_end) {
                // Not contiguous (a lagging subscriber jumped) or too
                // large for a record: it starts the next sample.
                std::mem::swap(&mut message, &mut next);
                carried = Some(positions);
                break;
            }
            taken = if sample.len() < BATCH_BYTES { source.try_next(&mut next)? } else { None };
        }
        Header { flags: BATCH, end: batch_end, ..header }.write_to(&mut sample);
        publisher.put(sample).wait().map_err(zerr)?;
        stats.now.messages += items;
        stats.now.bytes += bytes;
    }
    stats.publish();
    Ok(())
}

/// Logs a refused sample: every one of the first ten, then one in a
/// thousand.
fn refuse(stats: &mut Stats, label: &str, why: &str) {
    stats.now.garbage += 1;
    let n = stats.now.garbage;
    if n <= 10 || n.is_multiple_of(1000) {
        eprintln!("{label}: dropped a sample: {why} ({n} dropped so far)");
    }
}

/// Whether a ring item at `header`'s positions may be written after the
/// last one written (`last`: source nonce, end position): a repeat is
/// refused; a jump forward is a gap, counted and logged.
fn follows(last: Option<(u64, u64)>, header: &Header, stats: &mut Stats, label: &str) -> bool {
    match last {
        Some((nonce, end)) if nonce == header.nonce && header.start < end => {
            let why = format!("positions {}..{} were written already (up to {end})", header.start, header.end);
            refuse(stats, label, &why);
            return false;
        }
        Some((nonce, end)) if nonce == header.nonce && header.start > end => {
            let skipped = header.start - end;
            stats.now.gaps += 1;
            stats.now.lost += skipped;
            eprintln!(
                "{label}: gap: the source's slots {end}..{} never arrived ({skipped} lost; a bridge restarted or dropped them)",
                header.start
            );
        }
        Some((nonce, _)) if nonce != header.nonce => {
            eprintln!("{label}: a new source object (nonce {:#x}): its positions start afresh", header.nonce);
        }
        _ => {}
    }
    true
}

fn query_description(session: &Session, key: &str) -> Result<Description, String> {
    let replies =
        session.get(description_key(key)).timeout(Duration::from_secs(2)).wait().map_err(|e| e.to_string())?;
    let mut why = "no bridge answered".to_owned();
    while let Ok(reply) = replies.recv() {
        match reply.result() {
            Ok(sample) => match Description::parse(&sample.payload().to_bytes()) {
                Ok(d) => return Ok(d),
                Err(e) => why = format!("a bad description: {e}"),
            },
            Err(e) => why = format!("an error reply: {:?}", e.payload().to_bytes()),
        }
    }
    Err(why)
}

/// What `in` keeps from sample to sample once its stream is known: run
/// inside Zenoh's receive callback, one sample at a time.
struct Receiver {
    label: String,
    drop: bool,
    stats: Stats,
    /// Where the last item written came from (source nonce, end
    /// position).
    last: Option<(u64, u64)>,
    last_version: Option<u64>,
    fingerprint: u64,
    remote: Description,
    sink: Sink,
    /// Set when the stream is asked to stop: a write waiting for room
    /// gives up.
    stop: Arc<AtomicBool>,
    /// Set when a write failed: the stream ends with it.
    failed: Option<String>,
    /// No more samples are taken (stopped or failed).
    done: bool,
}

impl Receiver {
    /// Takes one sample: checks it, writes its items into the local
    /// object (waiting for room unless in drop mode) and counts.
    fn take(&mut self, bytes: &[u8]) {
        if self.done {
            return;
        }
        self.stats.tick();
        match self.write(bytes) {
            Ok(true) => {}
            Ok(false) => self.done = true,
            Err(e) => {
                self.failed = Some(e);
                self.done = true;
            }
        }
    }

    /// Ok(false) when a write was stopped.
    fn write(&mut self, bytes: &[u8]) -> Result<bool, String> {
        let Self { label, drop, stats, last, last_version, fingerprint, remote, sink, stop, .. } = self;
        let (header, payload) = match Header::parse(bytes) {
            Ok(parsed) => parsed,
            Err(why) => {
                refuse(stats, label, &why.to_string());
                return Ok(true);
            }
        };
        if header.fingerprint != *fingerprint {
            // Anyone who can publish on the key can send this: it is
            // refused where it stands, the subscription kept (no real item
            // in flight is lost for it). The stream's type was fixed when
            // it began; a source made again with another layout is refused
            // here too, sample by sample, until this bridge is restarted
            // (the local object holds the old layout, and a description
            // query can be answered by a forger as well).
            let why = format!(
                "fingerprint {:#018x} is not the stream's ({fingerprint:#018x}, `{}`); if the source was made again with another type, restart this bridge",
                header.fingerprint, remote.type_name
            );
            refuse(stats, label, &why);
            return Ok(true);
        }
        if header.kind != remote.kind {
            refuse(stats, label, &format!("a {} sample on a {} stream", header.kind, remote.kind));
            return Ok(true);
        }
        if !matches!(remote.kind, ObjectKind::ByteRing | ObjectKind::Ring | ObjectKind::Broadcast) {
            if header.flags & BATCH != 0 {
                refuse(stats, label, &format!("a batch on a {} stream", remote.kind));
                return Ok(true);
            }
            if header.flags & HEARTBEAT != 0 && *last_version == Some(header.start) {
                // The value written last, sent again: nothing new.
                return Ok(true);
            }
            match sink.put(payload, *drop, stop)? {
                Put::Written => {
                    stats.now.messages += 1;
                    stats.now.bytes += payload.len() as u64;
                }
                Put::Dropped => stats.now.drops += 1,
                Put::Stopped => return Ok(false),
                Put::Refused(why) => {
                    refuse(stats, label, &why);
                    return Ok(true);
                }
            }
            *last_version = Some(header.start);
            stats.now.last_nonce = header.nonce;
            stats.now.last_end = header.end;
            return Ok(true);
        }
        // A ring's sample: one item or a batch, checked whole first, then
        // each item as if it came alone (positions, gaps, repeats).
        let items = match Items::new(&header, payload) {
            Ok(items) => items,
            Err(why) => {
                refuse(stats, label, &why.to_string());
                return Ok(true);
            }
        };
        for (start, end, item) in items {
            let at = Header { start, end, ..header };
            if !follows(*last, &at, stats, label) {
                continue;
            }
            match sink.put(item, *drop, stop)? {
                Put::Written => {
                    stats.now.messages += 1;
                    stats.now.bytes += item.len() as u64;
                }
                Put::Dropped => stats.now.drops += 1,
                Put::Stopped => return Ok(false),
                Put::Refused(why) => {
                    refuse(stats, label, &why);
                    continue;
                }
            }
            *last = Some((header.nonce, end));
            stats.now.last_nonce = header.nonce;
            stats.now.last_end = end;
            // Written every 64 items (and once a second), so that a
            // receiver killed now leaves its successor a position to
            // count a gap from: one at most 63 items old, which makes the
            // reported gap larger than the real one by at most that,
            // never smaller.
            if stats.now.messages.is_multiple_of(64) {
                stats.publish();
            }
        }
        Ok(true)
    }
}

fn run_in(session: &Session, spec: &InSpec, quiet: bool, stop: &AtomicBool) -> Result<(), String> {
    let label = Stream::In(spec.clone()).to_string();
    let (mut stats, previous) = Stats::create(&stats_name(&spec.to, "in"), label.clone(), quiet, 2)?;
    // Where the last item written came from: a restarted receiver
    // continues from its predecessor's record.
    let last: Option<(u64, u64)> = previous.filter(|p| p.last_nonce != 0).map(|p| (p.last_nonce, p.last_end));
    // The description is queried once, before the subscriber is declared
    // (a subscriber's callback waiting for room in the local ring holds
    // the link's receiving task, which is how backpressure reaches the
    // sender, and a reply would wait behind it).
    let mut waiting_logged = false;
    let (remote, sink) = loop {
        if stop.load(Ordering::Relaxed) {
            stats.publish();
            return Ok(());
        }
        stats.tick();
        match query_description(session, &spec.key) {
            Ok(remote) => {
                let sink = Sink::open_or_create(&spec.to, spec.create, &remote).map_err(|r| r.0)?;
                break (remote, sink);
            }
            Err(why) => {
                if !waiting_logged {
                    eprintln!("{label}: waiting for the stream's description on {}: {why}", description_key(&spec.key));
                    waiting_logged = true;
                }
                std::thread::sleep(POLL);
            }
        }
    };
    let inner_stop = Arc::new(AtomicBool::new(false));
    let receiver = Arc::new(Mutex::new(Receiver {
        label,
        drop: spec.drop,
        stats,
        last,
        last_version: None,
        fingerprint: remote.schema.fingerprint(),
        remote,
        sink,
        stop: Arc::clone(&inner_stop),
        failed: None,
        done: false,
    }));
    let shared = Arc::clone(&receiver);
    // Each sample is written into the local object from Zenoh's receive
    // callback itself, with no hand-off to another thread. A full local
    // ring makes the write wait, which holds this link's receiving task:
    // Zenoh then stops reading the link and a blocking publisher waits
    // (the reliable, blocking congestion mode). Zenoh's default channel
    // handler blocks its callback the same way when its queue is full.
    // The wait gives up when the stream stops (`inner_stop`, looked at
    // every POLL), so the subscriber's undeclaration below is not held.
    let subscriber = session
        .declare_subscriber(spec.key.clone())
        .callback(move |sample| {
            let bytes = sample.payload().to_bytes();
            // A poisoned lock: a write panicked; the stream's thread
            // reports it.
            if let Ok(mut receiver) = shared.lock() {
                receiver.take(&bytes);
            }
        })
        .wait()
        .map_err(|e| e.to_string())?;
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        std::thread::sleep(POLL);
        // try_lock: a write waiting for room holds the lock; the counters
        // are written by the callback meanwhile.
        match receiver.try_lock() {
            Ok(mut r) => {
                if let Some(e) = r.failed.take() {
                    break Err(e);
                }
                r.stats.tick();
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Poisoned(_)) => break Err("a write into the local object panicked".to_owned()),
        }
    };
    // Relaxed: a flag looked at by the waiting write; nothing is
    // published through it.
    inner_stop.store(true, Ordering::Relaxed);
    drop(subscriber.undeclare().wait());
    let guard = receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    guard.stats.publish();
    result
}
