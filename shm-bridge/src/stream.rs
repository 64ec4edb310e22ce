//! One stream of a bridge: `out` (a local object to a key) or `in` (a key
//! to a local object), each run on its own thread until asked to stop.

use crate::link::{LOW_LATENCY_MESSAGE, low_latency_sample_max};
use crate::local::{Body, Next, POLL, Put, Sent, Sink, Source};
use crate::stats::{Stats, stats_name};
use crate::trace;
use crate::wire::{self, BATCH, Description, HEADER_LEN, HEARTBEAT, Header, Items, RECORD_LEN};
use shm_runtime::ObjectKind;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;
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
    /// Runs the stream until `stop` is set or it fails. `low_latency`:
    /// the session was opened with [`Link::low_latency`](crate::Link),
    /// so an `out` stream keeps every sample within
    /// [`low_latency_sample_max`] and refuses a source whose items cannot
    /// fit.
    pub fn run(&self, session: &Session, low_latency: bool, quiet: bool, stop: &AtomicBool) -> Result<(), String> {
        match self {
            Self::Out(spec) => run_out(session, spec, low_latency, quiet, stop),
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

/// The largest sample `out` puts: any size, or over a low-latency link
/// what one message of it holds; a source whose items cannot fit is
/// refused (a longer message would close the link and be lost).
fn sample_max(spec: &OutSpec, description: &Description, low_latency: bool) -> Result<usize, String> {
    if !low_latency {
        return Ok(usize::MAX);
    }
    let max = low_latency_sample_max(&spec.key);
    let item_max = low_latency_item_max(&spec.key);
    if description.size > item_max as u64 {
        return Err(format!(
            "items of up to {} bytes (the source's {}) cannot go over a low-latency link: Zenoh sends each sample \
             there as one message of at most {LOW_LATENCY_MESSAGE} bytes, which leaves {item_max} bytes for an item \
             on this key; carry this stream on a bridge without --low-latency",
            description.size,
            item_size_name(description.kind),
        ));
    }
    Ok(max)
}

/// The largest item (a sample less the bridge's header) a stream on `key`
/// may carry over a low-latency link.
pub fn low_latency_item_max(key: &str) -> usize {
    low_latency_sample_max(key).saturating_sub(HEADER_LEN)
}

/// What a source's [`Description::size`] is, in words.
fn item_size_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::ByteRing => "slot size",
        ObjectKind::String | ObjectKind::Bytes => "capacity",
        _ => "item size",
    }
}

fn run_out(session: &Session, spec: &OutSpec, low_latency: bool, quiet: bool, stop: &AtomicBool) -> Result<(), String> {
    let (mut source, description, nonce) = Source::open(&spec.from)?;
    let sample_max = sample_max(spec, &description, low_latency)?;
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
                Next::Item { start, end, flags } => {
                    trace::mark(trace::OUT_TOOK, trace::number(&message));
                    (start, end, flags)
                }
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
            let traced = trace::number(&message);
            trace::mark(trace::OUT_PUT, traced);
            publisher.put(plain_sample(&header, &mut message)).wait().map_err(zerr)?;
            trace::mark(trace::OUT_PUT_RETURNED, traced);
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
            // corrupt segment) joins no batch; nor does an item that
            // would take the sample past a low-latency message.
            if s != *batch_end
                || sample.len() + RECORD_LEN + item.len() > sample_max
                || e.checked_sub(s).and_then(|n| wire::push_record(sample, item, n)).is_none()
            {
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

/// Counts what a write of `len` bytes into the local object did: go on
/// (written or dropped: the caller records the position), or return
/// `Break(go_on)` at once (refused: counted as garbage, the stream goes on;
/// stopped: it ends).
#[inline]
fn counted(put: Put, len: usize, stats: &mut Stats, label: &str) -> ControlFlow<bool> {
    match put {
        Put::Written => {
            stats.now.messages += 1;
            stats.now.bytes += len as u64;
        }
        Put::Dropped => stats.now.drops += 1,
        Put::Stopped => return ControlFlow::Break(false),
        Put::Refused(why) => {
            refuse(stats, label, &why);
            return ControlFlow::Break(true);
        }
    }
    ControlFlow::Continue(())
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

/// Pieces a sample may arrive in and still be written piece by piece
/// (Zenoh reassembles a sample larger than its transport batch as one
/// piece per fragment: a 64 KiB item arrives in two); a sample in more is
/// put together first.
const MAX_PIECES: usize = 16;

/// Whether a kind's samples carry ring items (else one value each).
fn is_stream(kind: ObjectKind) -> bool {
    matches!(kind, ObjectKind::ByteRing | ObjectKind::Ring | ObjectKind::Broadcast)
}

/// Gathers the first [`HEADER_LEN`] bytes of `pieces` (the header may
/// straddle pieces) and trims them off: the header's bytes, how many
/// there were (fewer if the sample is shorter), and the pieces of the
/// rest.
fn split_header<'p, 'a>(pieces: &'p mut [&'a [u8]]) -> ([u8; HEADER_LEN], usize, &'p [&'a [u8]]) {
    let mut head = [0; HEADER_LEN];
    let mut filled = 0;
    let mut first = pieces.len();
    for (i, piece) in pieces.iter_mut().enumerate() {
        let n = (HEADER_LEN - filled).min(piece.len());
        head[filled..filled + n].copy_from_slice(&piece[..n]);
        filled += n;
        *piece = &piece[n..];
        if filled == HEADER_LEN {
            first = i;
            break;
        }
    }
    (head, filled, &pieces[first..])
}

/// The subscriber's callback: one sample into the receiver.
#[inline(never)]
fn receive(shared: &Mutex<Receiver>, sample: &Sample) {
    // A poisoned lock: a write panicked; the stream's thread reports it.
    let traced = if trace::on() {
        trace::number(sample.payload().slices().next().and_then(|first| first.get(HEADER_LEN..)).unwrap_or_default())
    } else {
        None
    };
    trace::mark(trace::IN_CALLBACK, traced);
    if let Ok(mut receiver) = shared.lock() {
        receiver.take_sample(sample.payload());
    }
    trace::mark(trace::IN_WRITTEN, traced);
}

impl Receiver {
    /// Takes one sample as Zenoh delivered it, in one piece or several.
    /// A ring's plain sample (one item) is written from its pieces as
    /// they are: the header is read across them, the item's bytes go
    /// from each piece straight to the local object. A sample in one
    /// piece is taken as it is; anything else (a batch, a value, garbage,
    /// more than [`MAX_PIECES`] pieces) is put together first, as
    /// `ZBytes::to_bytes` does. Every sample meets the same checks either
    /// way.
    fn take_sample(&mut self, payload: &ZBytes) {
        let mut slices = payload.slices();
        let first = slices.next().unwrap_or_default();
        let Some(second) = slices.next() else {
            // The common case (every sample up to Zenoh's batch size).
            return self.take(|r| r.write(first));
        };
        let mut pieces: [&[u8]; MAX_PIECES] = [&[]; MAX_PIECES];
        (pieces[0], pieces[1]) = (first, second);
        let mut count = 2;
        for (piece, slice) in pieces[2..].iter_mut().zip(&mut slices) {
            *piece = slice;
            count += 1;
        }
        if slices.next().is_none() {
            let (head, filled, body) = split_header(&mut pieces[..count]);
            if let Ok((header, _)) = Header::parse(&head[..filled])
                && header.flags & BATCH == 0
                && is_stream(self.remote.kind)
            {
                return self.take(|r| r.write_item_sample(&header, body));
            }
        }
        self.take(|r| r.write(&payload.to_bytes()));
    }

    /// Takes one sample with `write`: checks it, writes its items into
    /// the local object (waiting for room unless in drop mode) and
    /// counts.
    fn take(&mut self, write: impl FnOnce(&mut Self) -> Result<bool, String>) {
        if self.done {
            return;
        }
        self.stats.tick();
        match write(self) {
            Ok(true) => {}
            Ok(false) => self.done = true,
            Err(e) => {
                self.failed = Some(e);
                self.done = true;
            }
        }
    }

    /// Whether a sample with `header` belongs to the stream (its
    /// fingerprint and kind); refuses it if not.
    #[inline]
    fn belongs(&mut self, header: &Header) -> bool {
        let Self { label, stats, fingerprint, remote, .. } = self;
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
            return false;
        }
        if header.kind != remote.kind {
            refuse(stats, label, &format!("a {} sample on a {} stream", header.kind, remote.kind));
            return false;
        }
        true
    }

    /// A ring's plain sample whose item came in `pieces` (the header
    /// already split off and parsed): the checks and accounting of
    /// [`write`](Self::write), the item written from its pieces. Ok(false)
    /// when the write was stopped.
    fn write_item_sample(&mut self, header: &Header, pieces: &[&[u8]]) -> Result<bool, String> {
        if !self.belongs(header) {
            return Ok(true);
        }
        // What `Items` yields for a plain sample: the one item, at the
        // header's positions.
        self.write_item(header, header.start, header.end, Body::Pieces(pieces))
    }

    /// Ok(false) when a write was stopped.
    fn write(&mut self, bytes: &[u8]) -> Result<bool, String> {
        let (header, payload) = match Header::parse(bytes) {
            Ok(parsed) => parsed,
            Err(why) => {
                refuse(&mut self.stats, &self.label, &why.to_string());
                return Ok(true);
            }
        };
        if !self.belongs(&header) {
            return Ok(true);
        }
        let Self { label, drop, stats, last_version, remote, sink, stop, .. } = self;
        if !is_stream(remote.kind) {
            if header.flags & BATCH != 0 {
                refuse(stats, label, &format!("a batch on a {} stream", remote.kind));
                return Ok(true);
            }
            if header.flags & HEARTBEAT != 0 && *last_version == Some(header.start) {
                // The value written last, sent again: nothing new.
                return Ok(true);
            }
            if let ControlFlow::Break(go_on) = counted(sink.put(payload, *drop, stop)?, payload.len(), stats, label) {
                return Ok(go_on);
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
            if !self.write_item(&header, start, end, Body::Whole(item))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One ring item of a sample with `header`, at positions
    /// `start..end`: checked against the last one written (repeats
    /// refused, gaps counted), written, counted. Ok(false) when the
    /// write was stopped.
    // Inlined into both callers: a batch's items go through it one by
    // one (callgrind: about 90 instructions a sample less at 8 B).
    #[expect(clippy::inline_always, reason = "measured with callgrind, see above")]
    #[inline(always)]
    fn write_item(&mut self, header: &Header, start: u64, end: u64, item: Body<'_>) -> Result<bool, String> {
        let Self { label, drop, stats, last, sink, stop, .. } = self;
        let at = Header { start, end, ..*header };
        if !follows(*last, &at, stats, label) {
            return Ok(true);
        }
        if let ControlFlow::Break(go_on) = counted(sink.put_body(item, *drop, stop)?, item.len(), stats, label) {
            return Ok(go_on);
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
        .callback(move |sample| receive(&shared, &sample))
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

#[cfg(test)]
mod tests {
    use super::*;
    use shm_runtime::format::schema::{Schema, builtin};
    use shm_runtime::{ByteRing, Consumer, Producer, SharedObject};

    /// A receiver of a byte-ring stream writing into a private ring of
    /// `slot`-byte slots, and that ring's consumer.
    fn receiver(tag: &str, slot: usize) -> (Receiver, ByteRing<Consumer>) {
        let remote = Description {
            kind: ObjectKind::ByteRing,
            size: slot as u64,
            capacity: 64,
            type_name: "ByteRing".into(),
            schema: Schema::from_desc(builtin::BYTES),
        };
        let tx = ByteRing::<Producer>::create_memorybuf(slot, 64).expect("ring");
        let rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle()).expect("consumer");
        let name = format!("shmrs-bt-{}-unit-{tag}", std::process::id());
        let (stats, _) = Stats::create(&name, tag.into(), true, 2).expect("stats");
        let receiver = Receiver {
            label: tag.into(),
            drop: false,
            stats,
            last: None,
            last_version: None,
            fingerprint: remote.schema.fingerprint(),
            remote,
            sink: Sink::ByteRing(tx),
            stop: Arc::new(AtomicBool::new(false)),
            failed: None,
            done: false,
        };
        (receiver, rx)
    }

    /// `bytes` as a payload of pieces cut at `cuts` (ascending, inside).
    fn in_pieces(bytes: &[u8], cuts: &[usize]) -> ZBytes {
        let mut writer = ZBytes::writer();
        let mut from = 0;
        for &to in cuts.iter().chain([&bytes.len()]) {
            writer.append(bytes[from..to].to_vec().into());
            from = to;
        }
        let payload = writer.finish();
        assert_eq!(payload.slices().count(), cuts.len() + 1, "pieces kept apart");
        payload
    }

    fn sample(r: &Receiver, start: u64, end: u64, flags: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0; HEADER_LEN];
        let header = Header { kind: ObjectKind::ByteRing, flags, fingerprint: r.fingerprint, nonce: 5, start, end };
        header.write_to(&mut bytes);
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn split_header_reads_across_pieces() {
        let bytes: Vec<u8> = (0..100).collect();
        for cuts in [&[1, 2, 39][..], &[20], &[39], &[40], &[41], &[10, 30, 40, 41, 70], &[]] {
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut from = 0;
            for &to in cuts.iter().chain([&100]) {
                pieces.push(&bytes[from..to]);
                from = to;
            }
            let (head, filled, body) = split_header(&mut pieces);
            assert_eq!((&head[..], filled), (&bytes[..HEADER_LEN], HEADER_LEN), "cuts {cuts:?}");
            assert_eq!(body.concat(), &bytes[HEADER_LEN..], "cuts {cuts:?}");
        }
        let short: Vec<u8> = (0..30).collect();
        let mut pieces = vec![&short[..10], &short[10..]];
        let (head, filled, body) = split_header(&mut pieces);
        assert_eq!((&head[..filled], body.concat()), (&short[..], Vec::new()));
    }

    /// A ring item in pieces, the header cut anywhere (inside it, at its
    /// end, in the body), arrives whole and in order; garbage and
    /// repeats in pieces are refused as whole samples are.
    #[test]
    fn items_in_pieces_are_written_whole_and_checked() {
        let slot = 300;
        let (mut r, mut rx) = receiver("pieces", slot);
        let body: Vec<u8> = (0..250_u16).map(|i| i.to_le_bytes()[0].wrapping_mul(7)).collect();
        let cut_sets: [&[usize]; 7] = [&[1], &[7, 39], &[40], &[41], &[3, 20, 45, 46, 133, 201], &[39, 41, 284], &[]];
        let mut message = Vec::new();
        for (i, cuts) in cut_sets.iter().enumerate() {
            let at = i as u64;
            let len = body.len() - i;
            let bytes = sample(&r, at, at + 1, 0, &body[..len]);
            r.take_sample(&in_pieces(&bytes, cuts));
            rx.read_timeout(&mut message, Duration::from_secs(1)).expect("an item");
            assert_eq!(message, &body[..len], "cuts {cuts:?}");
        }
        assert_eq!((r.stats.now.messages, r.stats.now.garbage), (cut_sets.len() as u64, 0));
        // A repeat, a bad magic across pieces, a sample shorter than the
        // header, a foreign fingerprint: refused, nothing written.
        let repeat = sample(&r, 0, 1, 0, b"again");
        r.take_sample(&in_pieces(&repeat, &[2, 30]));
        let mut bad = sample(&r, 7, 8, 0, b"bad magic");
        bad[1] = b'X';
        r.take_sample(&in_pieces(&bad, &[1, 2]));
        r.take_sample(&in_pieces(&repeat[..30], &[15]));
        let mut foreign = sample(&r, 7, 8, 0, b"foreign");
        foreign[8] ^= 1;
        r.take_sample(&in_pieces(&foreign, &[12]));
        assert_eq!(r.stats.now.garbage, 4);
        assert!(rx.read_timeout(&mut message, Duration::ZERO).is_err(), "nothing written");
        // A gap in pieces is counted; a batch in pieces is put together.
        r.take_sample(&in_pieces(&sample(&r, 9, 10, 0, b"after a gap"), &[30]));
        let mut records = Vec::new();
        wire::push_record(&mut records, b"one", 1).expect("fits");
        wire::push_record(&mut records, b"two", 1).expect("fits");
        r.take_sample(&in_pieces(&sample(&r, 10, 12, BATCH, &records), &[20, 45]));
        for want in [&b"after a gap"[..], b"one", b"two"] {
            rx.read_timeout(&mut message, Duration::from_secs(1)).expect("an item");
            assert_eq!(message, want);
        }
        assert_eq!((r.stats.now.gaps, r.stats.now.lost, r.stats.now.garbage), (1, 2, 4));
        // Longer than the local slot: put together, written in fragments.
        let long: Vec<u8> = (0..700_u16).map(|i| i.to_le_bytes()[0]).collect();
        r.take_sample(&in_pieces(&sample(&r, 12, 13, 0, &long), &[33, 400]));
        rx.read_timeout(&mut message, Duration::from_secs(1)).expect("an item");
        assert_eq!(message, long);
        assert_eq!(r.failed, None);
    }
}
