//! Reading a segment's value and rendering segments as text and JSON.

use crate::Failure;
use crate::target::Target;
use serde_json::{Value as Json, json};
use shm_runtime::format::schema::Schema;
use shm_runtime::format::{BYTE_ORDER_MARK, FORMAT_VERSION, Header, STATE_INITIALIZING, STATE_READY};
use shm_runtime::tools::{
    ArrayPeek, BroadcastPeek, ByteBroadcastPeek, ByteMessage, ByteRingUnread, Peek, RingItem, RingPeek, RingUnread,
    SegmentInfo, Status, SubscriberPeek,
};
use shm_runtime::{
    Handle, ObjectKind, OpenOptions, Policy, SharedBool, SharedBytes, SharedInt, SharedObject, SharedString,
};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long opening waits for a creator still setting the segment up (the
/// target was ready when listed, so this is only for a race).
const OPEN_WAIT: Duration = Duration::from_millis(200);
/// Array elements shown by `inspect`.
const ARRAY_SHOWN: u64 = 8;
/// Bytes of a `bytes` value shown in hex.
const BYTES_SHOWN: usize = 256;

/// An opened segment: the built-ins through their own types (opening maps
/// and validates; reading never writes), the rest through [`Peek`].
pub(crate) enum Object {
    Int(SharedInt),
    Bool(SharedBool),
    String(SharedString),
    Bytes(SharedBytes),
    Peek(Peek),
}

impl Object {
    pub(crate) fn open(handle: &Handle) -> Result<Self, Failure> {
        let options = OpenOptions::new().wait(OPEN_WAIT);
        Ok(match handle.kind() {
            ObjectKind::Int => Self::Int(SharedInt::load_sharedobject_with(handle, &options)?),
            ObjectKind::Bool => Self::Bool(SharedBool::load_sharedobject_with(handle, &options)?),
            ObjectKind::String => Self::String(SharedString::load_sharedobject_with(handle, &options)?),
            ObjectKind::Bytes => Self::Bytes(SharedBytes::load_sharedobject_with(handle, &options)?),
            _ => Self::Peek(Peek::open_with(handle, &options)?),
        })
    }
}

/// A segment's value, read at one moment.
pub(crate) enum Value {
    Int(i64),
    Bool(bool),
    String {
        text: String,
        capacity: usize,
    },
    Bytes {
        bytes: Vec<u8>,
        capacity: usize,
    },
    /// A `Shared<T>`'s raw bytes, and its value decoded by field with the
    /// segment's schema (or why it could not be).
    State {
        bytes: Vec<u8>,
        decoded: Result<Decoded, String>,
    },
    /// An array's shape, element type and its first elements, raw and
    /// decoded.
    Array {
        shape: ArrayPeek,
        element_type: String,
        elements: Vec<Vec<u8>>,
        decoded: Result<Vec<Decoded>, String>,
    },
    /// A ring's shape, positions and roles, and its oldest and newest
    /// unread items (or why not).
    Ring(RingPeek, Unread),
    /// A broadcast's shape, publisher, subscribers and newest item.
    Broadcast(BroadcastPeek),
    /// A byte broadcast's shape, publisher, subscribers and newest
    /// message (length and first bytes).
    ByteBroadcast(ByteBroadcastPeek),
}

/// A ring's oldest and newest unread items, or why they could not be
/// read.
pub(crate) enum Unread {
    /// A typed ring's items, decoded by field.
    Items(Result<RingUnread, String>),
    /// A byte ring's messages: length and first bytes.
    Messages(Result<ByteRingUnread, String>),
}

pub(crate) fn read_value(object: &Object) -> Result<Value, Failure> {
    Ok(match object {
        Object::Int(o) => Value::Int(o.read()),
        Object::Bool(o) => Value::Bool(o.read()),
        Object::String(o) => Value::String { text: o.read()?, capacity: o.capacity() },
        Object::Bytes(o) => Value::Bytes { bytes: o.read()?, capacity: o.capacity() },
        Object::Peek(peek) => match peek.kind() {
            ObjectKind::Ring => Value::Ring(peek.ring()?, Unread::Items(peek.ring_unread().map_err(|e| e.to_string()))),
            ObjectKind::ByteRing => {
                Value::Ring(peek.ring()?, Unread::Messages(peek.byte_ring_unread().map_err(|e| e.to_string())))
            }
            ObjectKind::Broadcast => Value::Broadcast(peek.broadcast()?),
            ObjectKind::ByteBroadcast => Value::ByteBroadcast(peek.byte_broadcast()?),
            ObjectKind::Array => {
                let shape = peek.array()?;
                let elements: Vec<Vec<u8>> =
                    (0..shape.len.min(ARRAY_SHOWN)).map(|i| peek.array_element(i)).collect::<Result<_, _>>()?;
                let decoded = elements.iter().map(|e| decode(peek, e)).collect();
                let element_type = peek.schema().map_or_else(|_| "schema not readable".to_owned(), Schema::to_string);
                Value::Array { shape, element_type, elements, decoded }
            }
            _ => {
                let bytes = peek.state_bytes()?;
                Value::State { decoded: decode(peek, &bytes), bytes }
            }
        },
    })
}

/// A value decoded by field with the segment's schema.
pub(crate) type Decoded = shm_runtime::tools::Value;

/// `bytes` decoded with the segment's schema, or why not (the raw words
/// are shown then).
fn decode(peek: &Peek, bytes: &[u8]) -> Result<Decoded, String> {
    let schema = peek.schema().map_err(|e| e.to_string())?;
    Decoded::decode(schema, bytes).map_err(|e| e.to_string())
}

/// Lowercase hex of `bytes`, no separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The whole 8-byte words of `bytes`, in native byte order.
fn words(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().expect("chunks_exact(8)"))).collect()
}

/// Hex dump lines: offset, 16 bytes in hex.
fn hex_dump(bytes: &[u8], indent: &str) -> Vec<String> {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let groups: Vec<String> = chunk.chunks(8).map(hex).collect();
            format!("{indent}{:04x}  {}", i * 16, groups.join(" "))
        })
        .collect()
}

/// A fill bar of `width` characters.
pub(crate) fn bar(fill: u64, capacity: u64, width: usize) -> String {
    let filled = if capacity == 0 {
        0
    } else {
        // At most `width`: the fill is at most the capacity.
        let share = u128::from(fill.min(capacity)) * width as u128 / u128::from(capacity);
        usize::try_from(share).unwrap_or(width)
    };
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

#[expect(clippy::cast_precision_loss, reason = "a percentage")]
fn percent(fill: u64, capacity: u64) -> f64 {
    if capacity == 0 { 0.0 } else { fill as f64 * 100.0 / capacity as f64 }
}

/// The value as text lines (for `inspect` and `watch`).
pub(crate) fn value_lines(value: &Value) -> Vec<String> {
    match value {
        Value::Int(v) => vec![format!("value:        {v}")],
        Value::Bool(v) => vec![format!("value:        {v}")],
        Value::String { text, capacity } => {
            vec![format!("value:        {text:?}"), format!("length:       {} of {capacity} bytes", text.len())]
        }
        Value::Bytes { bytes, capacity } => {
            let mut lines = vec![format!("length:       {} of {capacity} bytes", bytes.len())];
            lines.push("value:".to_owned());
            lines.extend(hex_dump(&bytes[..bytes.len().min(BYTES_SHOWN)], "  "));
            if bytes.len() > BYTES_SHOWN {
                lines.push(format!("  ... {} more bytes", bytes.len() - BYTES_SHOWN));
            }
            lines
        }
        Value::State { bytes, decoded: Ok(value) } => {
            let mut lines = Vec::new();
            match value {
                Decoded::Struct { name, fields } => {
                    lines.push(format!("value:        {name} ({} bytes)", bytes.len()));
                    lines.extend(fields.iter().map(|(field, value)| format!("  {field} = {value}")));
                }
                other => lines.push(format!("value:        {other}")),
            }
            lines
        }
        Value::State { bytes, decoded: Err(why) } => {
            let mut lines = vec![
                format!("value:        {} bytes (raw, native byte order)", bytes.len()),
                format!("not decoded:  {why}"),
            ];
            lines.extend(hex_dump(bytes, "  "));
            let words = words(bytes);
            if !words.is_empty() {
                let list: Vec<String> = words.iter().map(u64::to_string).collect();
                lines.push(format!("u64 words:    [{}]", list.join(", ")));
            }
            lines
        }
        Value::Array { shape, element_type, elements, decoded } => {
            let mut lines =
                vec![format!("length:       {} elements of {} bytes ({element_type})", shape.len, shape.element_size)];
            match decoded {
                Ok(values) => lines.extend(array_table(values)),
                Err(why) => {
                    lines.push(format!("not decoded:  {why}"));
                    for (i, element) in elements.iter().enumerate() {
                        lines.push(format!("[{i}]:          {}", hex(element)));
                    }
                }
            }
            if shape.len > ARRAY_SHOWN {
                lines.push(format!("... {} more elements", shape.len - ARRAY_SHOWN));
            }
            lines
        }
        Value::Ring(ring, unread) => {
            let mut lines = ring_lines(ring);
            match unread {
                Unread::Items(Ok(unread)) => {
                    lines.push(format!("oldest:       {}", item_text(unread.oldest.as_ref())));
                    lines.push(format!("newest:       {}", item_text(unread.newest.as_ref())));
                }
                Unread::Messages(Ok(unread)) => {
                    lines.push(format!("oldest:       {}", message_text(unread.oldest.as_ref())));
                    lines.push(format!("newest:       {}", message_text(unread.newest.as_ref())));
                }
                Unread::Items(Err(why)) | Unread::Messages(Err(why)) => lines.push(format!("not decoded:  {why}")),
            }
            lines
        }
        Value::Broadcast(b) => broadcast_lines(b),
        Value::ByteBroadcast(b) => byte_broadcast_lines(b),
    }
}

/// An unread item as `#position = value`, or `-`.
fn item_text(item: Option<&RingItem>) -> String {
    item.map_or_else(|| "-".to_owned(), |i| format!("#{} = {}", i.position, i.value))
}

/// A byte ring's message as `#position: length bytes in n slots: hex
/// "text"`, the first bytes only (`...` when there are more), or `-`.
fn message_text(message: Option<&ByteMessage>) -> String {
    message.map_or_else(
        || "-".to_owned(),
        |m| {
            let more = if (m.head.len() as u64) < m.len { "..." } else { "" };
            format!(
                "#{}: {} bytes in {} slot{}: {}{more} \"{}\"{more}",
                m.position,
                m.len,
                m.slots,
                if m.slots == 1 { "" } else { "s" },
                hex(&m.head),
                m.head.escape_ascii()
            )
        },
    )
}

fn policy_text(policy: Policy) -> &'static str {
    match policy {
        Policy::Backpressure => "backpressure",
        Policy::Overwrite => "overwrite",
    }
}

/// A subscriber's state: its holder's liveness, or why the entry is
/// corrupt.
fn subscriber_state(s: &SubscriberPeek) -> String {
    use shm_runtime::tools::RoleHolder;
    if let Some(why) = s.corrupt {
        return format!("corrupt: {why}");
    }
    let state = match s.holder {
        RoleHolder::Free => "free",
        RoleHolder::LetGo => "let go",
        RoleHolder::Alive { .. } => "alive",
        RoleHolder::Dead { .. } => "dead",
        RoleHolder::Unknown { .. } => "unknown",
    };
    if s.active { state.to_owned() } else { format!("{state}, joining") }
}

/// A broadcast as text lines: its shape, publisher, a table of its
/// subscribers (each with a lag bar) and its newest item.
fn broadcast_lines(b: &BroadcastPeek) -> Vec<String> {
    let mut lines = vec![
        format!("policy:       {}", policy_text(b.policy)),
        format!("capacity:     {} slots of {} bytes", b.capacity, b.element_bytes),
        format!("history:      {} items", b.history),
        format!("write pos:    {}", b.write_position),
        format!("publisher:    {}", b.publisher),
        format!("subscribers:  {} of {} entries", b.subscribers.len(), b.max_subscribers),
    ];
    lines.extend(subscriber_table(&b.subscribers, b.capacity));
    lines.push(format!("newest:       {}", item_text(b.newest.as_ref())));
    lines
}

/// A byte broadcast as text lines, as [`broadcast_lines`], its newest
/// message shown by length and first bytes.
fn byte_broadcast_lines(b: &ByteBroadcastPeek) -> Vec<String> {
    let mut lines = vec![
        format!("policy:       {}", policy_text(b.policy)),
        format!("capacity:     {} slots, messages up to {} bytes", b.capacity, b.slot_size),
        format!("history:      {} messages", b.history),
        format!("write pos:    {}", b.write_position),
        format!("publisher:    {}", b.publisher),
        format!("subscribers:  {} of {} entries", b.subscribers.len(), b.max_subscribers),
    ];
    lines.extend(subscriber_table(&b.subscribers, b.capacity));
    lines.push(format!("newest:       {}", message_text(b.newest.as_ref())));
    lines
}

/// The table of a broadcast's subscribers, each with a lag bar of the
/// `capacity`; no lines when there are none.
fn subscriber_table(subscribers: &[SubscriberPeek], capacity: u64) -> Vec<String> {
    let mut lines = Vec::new();
    if !subscribers.is_empty() {
        let header = ["slot", "pid", "cursor", "lag", "fill", "state"].map(str::to_owned);
        let rows: Vec<[String; 6]> = subscribers
            .iter()
            .map(|s| {
                [
                    s.slot.to_string(),
                    s.holder.pid().map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    s.cursor.to_string(),
                    if s.corrupt.is_some() { "?".to_owned() } else { s.lag.to_string() },
                    if s.corrupt.is_some() { "-".to_owned() } else { bar(s.lag, capacity, 20) },
                    subscriber_state(s),
                ]
            })
            .collect();
        let widths: Vec<usize> =
            (0..6).map(|c| rows.iter().chain([&header]).map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        let line = |row: &[String; 6]| {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            format!("  {}", cells.join("  ").trim_end())
        };
        lines.push(line(&header));
        lines.extend(rows.iter().map(line));
    }
    lines
}

fn broadcast_json(b: &BroadcastPeek) -> Json {
    json!({
        "policy": policy_text(b.policy),
        "capacity": b.capacity,
        "element_bytes": b.element_bytes,
        "history": b.history,
        "max_subscribers": b.max_subscribers,
        "write_position": b.write_position,
        "publisher": role_json(b.publisher),
        "subscribers": subscribers_json(&b.subscribers),
        "newest": b.newest.as_ref().map(|i| json!({ "position": i.position, "value": decoded_json(&i.value) })),
    })
}

fn byte_broadcast_json(b: &ByteBroadcastPeek) -> Json {
    json!({
        "policy": policy_text(b.policy),
        "capacity": b.capacity,
        "slot_size": b.slot_size,
        "history": b.history,
        "max_subscribers": b.max_subscribers,
        "write_position": b.write_position,
        "publisher": role_json(b.publisher),
        "subscribers": subscribers_json(&b.subscribers),
        "newest": message_json(b.newest.as_ref()),
    })
}

fn subscribers_json(subscribers: &[SubscriberPeek]) -> Vec<Json> {
    subscribers
        .iter()
        .map(|s| {
            let mut holder = role_json(s.holder);
            holder["slot"] = json!(s.slot);
            holder["active"] = json!(s.active);
            holder["cursor"] = json!(s.cursor);
            holder["lag"] = if s.corrupt.is_some() { Json::Null } else { json!(s.lag) };
            holder["corrupt"] = json!(s.corrupt);
            holder
        })
        .collect()
}

fn message_json(message: Option<&ByteMessage>) -> Json {
    message.map_or(Json::Null, |m| {
        json!({
            "position": m.position,
            "slots": m.slots,
            "len": m.len,
            "head_hex": hex(&m.head),
            "head_text": m.head.escape_ascii().to_string(),
        })
    })
}

/// An array's elements as a table: a column per field of a struct
/// element (`index  x    y`), else one `value` column; columns as wide
/// as their widest cell, two spaces apart.
fn array_table(values: &[Decoded]) -> Vec<String> {
    let header: Vec<String> = match values.first() {
        Some(Decoded::Struct { fields, .. }) => fields.iter().map(|(name, _)| name.clone()).collect(),
        _ => vec!["value".to_owned()],
    };
    let rows: Vec<Vec<String>> = values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let cells = match value {
                Decoded::Struct { fields, .. } => fields.iter().map(|(_, v)| v.to_string()).collect(),
                other => vec![other.to_string()],
            };
            std::iter::once(i.to_string()).chain(cells).collect()
        })
        .collect();
    let header: Vec<String> = std::iter::once("index".to_owned()).chain(header).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter().chain([&header]).map(|r| r.get(c).map_or(0, |cell| cell.chars().count())).max().unwrap_or(0)
        })
        .collect();
    let line = |row: &Vec<String>| {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        format!("  {}", cells.join("  ").trim_end())
    };
    std::iter::once(line(&header)).chain(rows.iter().map(line)).collect()
}

/// A decoded value as JSON: structs as objects (fields by name), arrays
/// as arrays, numbers as numbers (a `u128`/`i128` beyond 64 bits, and
/// floats that are not finite, as strings), flags as booleans, bytes as
/// hex.
fn decoded_json(value: &Decoded) -> Json {
    match value {
        Decoded::Struct { fields, .. } => {
            Json::Object(fields.iter().map(|(name, value)| (name.clone(), decoded_json(value))).collect())
        }
        Decoded::Array { items, .. } => Json::Array(items.iter().map(decoded_json).collect()),
        Decoded::Unsigned(n) => u64::try_from(*n).map_or_else(|_| json!(n.to_string()), |n| json!(n)),
        Decoded::Signed(n) => i64::try_from(*n).map_or_else(|_| json!(n.to_string()), |n| json!(n)),
        Decoded::Float(x) if x.is_finite() => json!(x),
        Decoded::Float(x) => json!(x.to_string()),
        Decoded::Flag(b) => json!(b),
        Decoded::Text(text) => json!(text),
        Decoded::Bytes(bytes) => json!(hex(bytes)),
        _ => Json::Null,
    }
}

fn ring_lines(ring: &RingPeek) -> Vec<String> {
    vec![
        format!("capacity:     {} slots of {} bytes", ring.capacity, ring.slot_bytes),
        format!("write pos:    {}", ring.write_position),
        format!("read pos:     {}", ring.read_position),
        format!(
            "fill:         {} {}/{} ({:.1}%)",
            bar(ring.fill, ring.capacity, 20),
            ring.fill,
            ring.capacity,
            percent(ring.fill, ring.capacity)
        ),
        format!("producer:     {}", ring.producer),
        format!("consumer:     {}", ring.consumer),
    ]
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Int(v) => json!(v),
        Value::Bool(v) => json!(v),
        Value::String { text, capacity } => json!({ "text": text, "length": text.len(), "capacity": capacity }),
        Value::Bytes { bytes, capacity } => json!({ "hex": hex(bytes), "length": bytes.len(), "capacity": capacity }),
        Value::State { bytes, decoded } => json!({
            "size": bytes.len(),
            "hex": hex(bytes),
            "u64_words": words(bytes),
            "fields": decoded.as_ref().ok().map(decoded_json),
            "not_decoded": decoded.as_ref().err(),
        }),
        Value::Array { shape, element_type, elements, decoded } => json!({
            "len": shape.len,
            "element_size": shape.element_size,
            "element_type": element_type,
            "first_elements_hex": elements.iter().map(|e| hex(e)).collect::<Vec<_>>(),
            "first_elements": decoded.as_ref().ok().map(|values| values.iter().map(decoded_json).collect::<Vec<_>>()),
            "not_decoded": decoded.as_ref().err(),
        }),
        Value::Ring(ring, unread) => {
            let mut json = ring_json(ring);
            let item = |item: &Option<RingItem>| {
                item.as_ref().map(|i| json!({ "position": i.position, "value": decoded_json(&i.value) }))
            };
            match unread {
                Unread::Items(Ok(unread)) => {
                    json["oldest_unread"] = json!(item(&unread.oldest));
                    json["newest_unread"] = json!(item(&unread.newest));
                }
                Unread::Messages(Ok(unread)) => {
                    json["oldest_unread"] = message_json(unread.oldest.as_ref());
                    json["newest_unread"] = message_json(unread.newest.as_ref());
                }
                Unread::Items(Err(why)) | Unread::Messages(Err(why)) => json["not_decoded"] = json!(why),
            }
            json
        }
        Value::Broadcast(b) => broadcast_json(b),
        Value::ByteBroadcast(b) => byte_broadcast_json(b),
    }
}

fn ring_json(ring: &RingPeek) -> Json {
    json!({
        "capacity": ring.capacity,
        "slot_bytes": ring.slot_bytes,
        "slot_words": ring.slot_words,
        "write_position": ring.write_position,
        "read_position": ring.read_position,
        "fill": ring.fill,
        "producer": role_json(ring.producer),
        "consumer": role_json(ring.consumer),
    })
}

fn role_json(role: shm_runtime::tools::RoleHolder) -> Json {
    use shm_runtime::tools::RoleHolder;
    let state = match role {
        RoleHolder::Free => "free",
        RoleHolder::LetGo => "let go",
        RoleHolder::Alive { .. } => "alive",
        RoleHolder::Dead { .. } => "dead",
        RoleHolder::Unknown { .. } => "unknown",
    };
    json!({ "state": state, "pid": role.pid() })
}

/// One word for a status (the `ls` column and JSON `status`).
pub(crate) fn status_word(status: Status) -> &'static str {
    match status {
        Status::Live => "live",
        Status::Initializing => "initializing",
        Status::Stale { .. } => "stale",
        Status::Abandoned { .. } => "abandoned",
        Status::Unknown { .. } => "unknown",
        Status::Corrupt => "corrupt",
        Status::Foreign => "foreign",
        Status::NoAccess => "no-access",
        _ => "other",
    }
}

/// Whether the creator lives, as the status tells.
fn creator_state(status: Status) -> &'static str {
    match status {
        Status::Live | Status::Initializing => "alive",
        Status::Stale { .. } | Status::Abandoned { .. } => "dead",
        _ => "unknown",
    }
}

fn type_name(info: &SegmentInfo) -> Option<&str> {
    info.header.as_ref().and_then(Header::type_name)
}

/// One line of `shm ls`.
pub(crate) struct Row<'a> {
    info: &'a SegmentInfo,
    /// A ring's fill, when it could be read.
    ring: Option<Result<RingPeek, String>>,
    /// A broadcast's subscribers, when they could be read.
    broadcast: Option<Result<BroadcastPeek, String>>,
    /// A byte broadcast's subscribers, when they could be read.
    byte_broadcast: Option<Result<ByteBroadcastPeek, String>>,
    /// A bridge's counters (`shm-bridge` keeps them in a `BridgeStats`
    /// value beside each object it carries), when they could be read.
    bridge: Option<Result<shm_runtime::tools::Value, String>>,
}

/// The type name of the counters `shm-bridge` keeps beside an object it
/// carries (`<name>.bridge-out`, `<name>.bridge-in`).
const BRIDGE_STATS: &str = "BridgeStats";

/// A counter of a bridge's `BridgeStats` value.
fn counter(value: &shm_runtime::tools::Value, field: &str) -> u128 {
    match value.field(field) {
        Some(shm_runtime::tools::Value::Unsigned(n)) => *n,
        _ => 0,
    }
}

/// `1.5 MB`, `820 B`.
fn human_bytes(n: u128) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a rate shown with one decimal")]
    let f = n as f64;
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", f / 1e6),
        _ => format!("{:.1} GB", f / 1e9),
    }
}

impl<'a> Row<'a> {
    pub(crate) fn of(info: &'a SegmentInfo) -> Self {
        let is_ring = matches!(info.kind(), Some(ObjectKind::Ring | ObjectKind::ByteRing));
        let mine = info.owner_uid == rustix::process::geteuid().as_raw();
        let ready = info.header.is_some_and(|h| h.state == STATE_READY) && info.status.is_shm();
        let is_broadcast = info.kind() == Some(ObjectKind::Broadcast);
        let peek = || {
            let handle = info.handle().ok_or("no handle")?;
            Peek::open_with(&handle, &OpenOptions::new().wait(OPEN_WAIT)).map_err(|e| e.to_string())
        };
        let ring = (is_ring && mine && ready).then(|| peek()?.ring().map_err(|e| e.to_string()));
        let broadcast = (is_broadcast && mine && ready).then(|| peek()?.broadcast().map_err(|e| e.to_string()));
        let is_byte_broadcast = info.kind() == Some(ObjectKind::ByteBroadcast);
        let byte_broadcast =
            (is_byte_broadcast && mine && ready).then(|| peek()?.byte_broadcast().map_err(|e| e.to_string()));
        // The derive names the type with its module path
        // (`shm_bridge::stats::BridgeStats`): the last segment decides.
        let is_bridge = info.kind() == Some(ObjectKind::State)
            && type_name(info).and_then(|t| t.rsplit("::").next()) == Some(BRIDGE_STATS);
        let bridge = (is_bridge && mine && ready).then(|| peek()?.state_value().map_err(|e| e.to_string()));
        Self { info, ring, broadcast, byte_broadcast, bridge }
    }

    /// A ring's fill, or a broadcast's largest lag (its slowest
    /// subscriber's fill), of the capacity.
    fn fill(&self) -> String {
        match &self.bridge {
            Some(Ok(stats)) => {
                let (msgs, bytes) = (counter(stats, "messages_per_s"), counter(stats, "bytes_per_s"));
                let (drops, gaps) = (counter(stats, "drops"), counter(stats, "gaps"));
                return format!("{msgs} msg/s, {}/s, {drops} drops, {gaps} gaps", human_bytes(bytes));
            }
            Some(Err(_)) => return "?".to_owned(),
            None => {}
        }
        let largest_lag = |subscribers: &[SubscriberPeek], capacity: u64| {
            let lag = subscribers.iter().filter(|s| s.corrupt.is_none()).map(|s| s.lag).max().unwrap_or(0);
            format!("{lag}/{capacity}")
        };
        match (&self.ring, &self.broadcast, &self.byte_broadcast) {
            (Some(Ok(ring)), _, _) => format!("{}/{}", ring.fill, ring.capacity),
            (_, Some(Ok(b)), _) => largest_lag(&b.subscribers, b.capacity),
            (_, _, Some(Ok(b))) => largest_lag(&b.subscribers, b.capacity),
            (Some(Err(_)), _, _) | (_, Some(Err(_)), _) | (_, _, Some(Err(_))) => "?".to_owned(),
            _ => "-".to_owned(),
        }
    }

    pub(crate) fn json(&self) -> Json {
        let info = self.info;
        let header = info.header.as_ref();
        json!({
            "name": info.name,
            "kind": info.kind().map(ObjectKind::as_str),
            "type_name": type_name(info),
            "fingerprint": header.map(|h| format!("{:016x}", h.fingerprint)),
            "size": info.file_size,
            "payload_size": header.map(|h| h.payload_size),
            "creator_pid": header.map(Header::creator_pid),
            "status": status_word(info.status),
            "status_text": info.status.to_string(),
            "owner_uid": info.owner_uid,
            "mode": format!("{:04o}", info.mode),
            "handle": info.handle().map(|h| h.to_string()),
            "ring": match &self.ring {
                Some(Ok(ring)) => ring_json(ring),
                Some(Err(e)) => json!({ "error": e }),
                None => Json::Null,
            },
            "broadcast": match (&self.broadcast, &self.byte_broadcast) {
                (Some(Ok(b)), _) => broadcast_json(b),
                (_, Some(Ok(b))) => byte_broadcast_json(b),
                (Some(Err(e)), _) | (_, Some(Err(e))) => json!({ "error": e }),
                _ => Json::Null,
            },
            "bridge": match &self.bridge {
                Some(Ok(stats)) => {
                    let fields = ["messages", "bytes", "drops", "gaps", "lost", "garbage", "messages_per_s", "bytes_per_s"];
                    // Counters are u64: they fit JSON's integers.
                    Json::Object(fields.iter().map(|f| ((*f).to_owned(), json!(u64::try_from(counter(stats, f)).unwrap_or(u64::MAX)))).collect())
                }
                Some(Err(e)) => json!({ "error": e }),
                None => Json::Null,
            },
        })
    }

    fn cells(&self) -> [String; 8] {
        let info = self.info;
        let header = info.header.as_ref();
        let dash = || "-".to_owned();
        [
            info.name.clone(),
            info.kind().map_or_else(dash, |k| k.as_str().to_owned()),
            type_name(info).map_or_else(dash, str::to_owned),
            header.map_or_else(dash, |h| format!("{:016x}", h.fingerprint)),
            info.file_size.to_string(),
            header.map_or_else(dash, |h| h.creator_pid().to_string()),
            status_word(info.status).to_owned(),
            self.fill(),
        ]
    }
}

/// The `ls` table, columns padded to their widest cell.
pub(crate) fn table(rows: &[Row<'_>]) -> String {
    let titles = ["NAME", "KIND", "TYPE", "FINGERPRINT", "SIZE", "PID", "STATUS", "FILL"];
    let cells: Vec<[String; 8]> = rows.iter().map(Row::cells).collect();
    let mut widths = titles.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |row: &[String]| {
        let padded: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&titles.map(str::to_owned));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// `unix_ns` as a UTC date and time to the second, `(date, time)`:
/// `("2026-12-03", "12:51:37")`.
fn utc(unix_ns: u64) -> (String, String) {
    let secs = unix_ns / 1_000_000_000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    (format!("{year:04}-{month:02}-{day:02}"), format!("{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60))
}

/// The proleptic Gregorian date `days` days after 1970-01-01, as
/// `(year, month, day)` (Howard Hinnant's `civil_from_days`, for days
/// on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Counted from 0000-03-01, so that the leap day ends each 400-year era
    // and each year of it (a year here runs from March to February).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097; // 0..=146_096
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let shifted_month = (5 * day_of_year + 2) / 153; // 0..=11, March is 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `unix_ns` for people: `2026-12-03 12:51:37 UTC`.
fn utc_text(unix_ns: u64) -> String {
    let (date, time) = utc(unix_ns);
    format!("{date} {time} UTC")
}

/// `unix_ns` in RFC 3339 to the second: `2026-12-03T12:51:37Z`.
fn utc_rfc3339(unix_ns: u64) -> String {
    let (date, time) = utc(unix_ns);
    format!("{date}T{time}Z")
}

/// How long ago `unix_ns` was, roughly.
fn age(unix_ns: u64) -> String {
    let then = UNIX_EPOCH + Duration::from_nanos(unix_ns);
    match SystemTime::now().duration_since(then) {
        Ok(d) if d.as_secs() >= 3600 => format!("{}h {}m ago", d.as_secs() / 3600, d.as_secs() / 60 % 60),
        Ok(d) if d.as_secs() >= 60 => format!("{}m {}s ago", d.as_secs() / 60, d.as_secs() % 60),
        Ok(d) => format!("{:.1}s ago", d.as_secs_f64()),
        Err(_) => "in the future".to_owned(),
    }
}

/// The magic bytes, printable ones as characters.
fn magic_text(magic: [u8; 8]) -> String {
    magic
        .iter()
        .map(|b| if b.is_ascii_graphic() { char::from(*b).to_string() } else { format!("\\x{b:02x}") })
        .collect()
}

fn state_text(state: u64) -> String {
    match state {
        STATE_READY => "ready".to_owned(),
        STATE_INITIALIZING => "initializing".to_owned(),
        other => format!("invalid ({other:#018x})"),
    }
}

fn byte_order_text(mark: u32) -> &'static str {
    match mark {
        BYTE_ORDER_MARK => "native",
        mark if mark == BYTE_ORDER_MARK.swap_bytes() => "swapped",
        _ => "invalid",
    }
}

fn kind_text(header: &Header) -> String {
    ObjectKind::from_code(header.kind)
        .map_or_else(|| format!("unknown (code {})", header.kind), |k| format!("{k} (code {})", header.kind))
}

/// `shm inspect` as text.
pub(crate) fn inspect_text(target: &Target, value: Option<&Value>) -> String {
    let info = &target.info;
    let mut lines = vec![
        format!("name:         {}", info.name),
        format!("handle:       {}", target.handle),
        format!("status:       {}", info.status),
        format!("owner:        uid {}, mode {:04o}", info.owner_uid, info.mode),
        format!("file size:    {} bytes", info.file_size),
    ];
    if let Some(h) = &info.header {
        lines.extend([
            format!("kind:         {}", kind_text(h)),
            format!("type:         {}", h.type_name().unwrap_or("-")),
            format!("fingerprint:  {:016x}", h.fingerprint),
            format!("state:        {}", state_text(h.state)),
            format!("creator:      pid {} ({})", h.creator_pid(), creator_state(info.status)),
            format!("created:      {} ({})", utc_text(h.created_unix_ns), age(h.created_unix_ns)),
            format!("payload:      {} bytes at offset {}, align {}", h.payload_size, h.payload_offset, h.payload_align),
            format!(
                "schema:       {} byte{} after the payload",
                h.schema_size,
                if h.schema_size == 1 { "" } else { "s" }
            ),
            format!("nonce:        {:016x}", h.nonce),
            format!(
                "format:       version {}, {} byte order, {}-bit pointers",
                h.format_version,
                byte_order_text(h.byte_order),
                u64::from(h.pointer_width) * 8
            ),
            format!("magic:        {}", magic_text(h.magic)),
        ]);
    }
    match value {
        Some(value) => lines.extend(value_lines(value)),
        None => lines.push(format!("value:        - ({})", unreadable_reason(info))),
    }
    lines.iter().fold(String::new(), |mut out, line| {
        out.push_str(line);
        out.push('\n');
        out
    })
}

/// Why a segment's value is not shown.
pub(crate) fn unreadable_reason(info: &SegmentInfo) -> String {
    match &info.header {
        Some(h) if h.state == STATE_READY && h.format_version != FORMAT_VERSION => format!(
            "format version {}, this shm reads version {FORMAT_VERSION}: another version of shm made it{}",
            h.format_version,
            if h.format_version < FORMAT_VERSION { " (before segments described their type)" } else { "" }
        ),
        _ => format!("not readable while {}", status_word(info.status)),
    }
}

/// `shm inspect --json`.
pub(crate) fn inspect_json(target: &Target, value: Option<&Value>) -> Json {
    let info = &target.info;
    let header = info.header.as_ref().map(|h| {
        json!({
            "magic": hex(&h.magic),
            "state": state_text(h.state),
            "byte_order": byte_order_text(h.byte_order),
            "pointer_width": h.pointer_width,
            "format_version": h.format_version,
            "kind": ObjectKind::from_code(h.kind).map(ObjectKind::as_str),
            "kind_code": h.kind,
            "fingerprint": format!("{:016x}", h.fingerprint),
            "payload_offset": h.payload_offset,
            "payload_size": h.payload_size,
            "payload_align": h.payload_align,
            "schema_size": h.schema_size,
            "nonce": format!("{:016x}", h.nonce),
            "creator": h.creator,
            "creator_pid": h.creator_pid(),
            "creator_state": creator_state(info.status),
            "created_unix_ns": h.created_unix_ns,
            "created_utc": utc_rfc3339(h.created_unix_ns),
            "type_name": h.type_name(),
        })
    });
    json!({
        "name": info.name,
        "handle": target.handle.to_string(),
        "status": status_word(info.status),
        "status_text": info.status.to_string(),
        "owner_uid": info.owner_uid,
        "mode": format!("{:04o}", info.mode),
        "file_size": info.file_size,
        "header": header,
        "value": value.map(value_json),
        "not_readable": value.is_none().then(|| unreadable_reason(info)),
    })
}

#[cfg(test)]
mod tests {
    use super::{civil_from_days, utc_rfc3339, utc_text};

    #[test]
    fn dates_are_the_calendars() {
        // Checked against `date -u -d @<seconds>`.
        for (seconds, text) in [
            (0, "1970-01-01 00:00:00 UTC"),
            (68_255_999, "1972-02-29 23:59:59 UTC"),
            (951_782_400, "2000-02-29 00:00:00 UTC"),
            (978_307_199, "2000-12-31 23:59:59 UTC"),
            (4_107_542_400, "2100-03-01 00:00:00 UTC"),
            (1_796_303_634, "2026-12-03 13:13:54 UTC"),
        ] {
            assert_eq!(utc_text(seconds * 1_000_000_000 + 999_999_999), text, "{seconds}");
        }
        assert_eq!(utc_text(u64::MAX), "2554-07-21 23:34:33 UTC");
        assert_eq!(utc_rfc3339(1_796_303_634_195_022_243), "2026-12-03T13:13:54Z");
        // Every day of 400 years (one whole cycle) follows the one before,
        // and months end on their last day.
        let month_len = |y: u64, m: u64| match m {
            2 if y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut last = civil_from_days(0);
        for days in 1..146_097 {
            let (y, m, d) = civil_from_days(days);
            let next_day = (y, m, d) == (last.0, last.1, last.2 + 1);
            let month_ended = last.2 == month_len(last.0, last.1);
            let next_month = (y, m, d) == (last.0, last.1 + 1, 1) && month_ended;
            let next_year = (y, m, d) == (last.0 + 1, 1, 1) && last.1 == 12 && month_ended;
            assert!((next_day && d <= month_len(y, m)) || next_month || next_year, "{last:?} then {:?}", (y, m, d));
            last = (y, m, d);
        }
        assert_eq!(last, (2369, 12, 31));
    }
}
