//! What travels on a key: every sample is a fixed 40-byte header and the
//! payload bytes; the stream's description (kind, type, schema) answers
//! queries on `<key>/@schema`.
//!
//! ```text
//! sample (all integers little-endian)
//!  0..4   magic  b"SHMB"
//!  4      version (1)
//!  5      kind: the source's ObjectKind code (bytering 8, int 1, ...)
//!  6      flags: bit 0 HEARTBEAT (a value object's unchanged value,
//!         republished so that a late receiver gets it); bit 1 BATCH
//!         (rings: the payload holds several items, below); other bits 0
//!  7      0
//!  8..16  layout fingerprint of the source's schema
//!  16..24 source nonce: the source segment's nonce (a new object under
//!         the same name starts a new stream)
//!  24..32 start: rings, the source's read position before the item
//!         was taken; value objects, the value's version
//!  32..40 end: rings, the read position after it (end - start slots:
//!         one for a message in one slot); value objects, the version
//!  40..   payload: the message (rings) or the whole value
//! ```
//!
//! A BATCH sample carries the items `out` found already waiting in the
//! source ring (it never waits to fill a batch), as records one after
//! the other; `start` is the position before the first, `end` after the
//! last, and the items are contiguous (each begins where the one before
//! ended):
//!
//! ```text
//! record (all integers little-endian)
//!  0..4   length of the item's bytes (u32)
//!  4..8   slots: the item's end position minus its start (u32, >= 1)
//!  8..    the item's bytes
//! ```
//!
//! The records must fill the payload exactly and their slots add up to
//! `end - start`; a batch that does not is refused whole (nothing of it
//! is written).
//!
//! Positions come from the source segment, not from the bridge, so they
//! survive a restart of either bridge: a receiver that saw `end = 10`
//! and next sees `start = 12` knows that the slots 10..12 were taken
//! from the source and never arrived.
//!
//! ```text
//! stream description (reply on <key>/@schema)
//!  0..4   magic  b"SHMS"
//!  4      version (1)
//!  5      kind
//!  6..8   0
//!  8..16  size of one item: a byte ring's slot size, a text or bytes
//!         object's capacity, a typed value's size
//!  16..24 capacity: slots of a ring, 0 for a value object
//!  24..26 length of the type name, then the name (UTF-8)
//!  then   the schema's canonical encoding (FORMAT.md, "Schema")
//! ```
//!
//! Everything here is parsed as untrusted input: a sample from a foreign
//! publisher on the key is refused with the reason, never trusted.

use shm_runtime::ObjectKind;
use shm_runtime::format::schema::Schema;
use std::fmt;

/// Bytes of a sample's header.
pub const HEADER_LEN: usize = 40;
const MAGIC: [u8; 4] = *b"SHMB";
const DESCRIPTION_MAGIC: [u8; 4] = *b"SHMS";
/// The wire format's version.
pub const VERSION: u8 = 1;
/// Flag: a value object's unchanged value, sent again.
pub const HEARTBEAT: u8 = 1;
/// Flag: a ring sample holding several items as records.
pub const BATCH: u8 = 2;
/// Bytes of a batch record's header (length, slots).
pub const RECORD_LEN: usize = 8;

/// A sample's header, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The source's kind.
    pub kind: ObjectKind,
    /// [`HEARTBEAT`] or 0.
    pub flags: u8,
    /// Layout fingerprint of the source's schema.
    pub fingerprint: u64,
    /// The source segment's nonce.
    pub nonce: u64,
    /// Read position before (rings) or version (values).
    pub start: u64,
    /// Read position after (rings) or version (values).
    pub end: u64,
}

/// The little-endian `u64` in the first 8 bytes of `bytes`.
fn le64(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// The kind's code as the one byte the wire has for it (codes are small).
fn kind_byte(kind: ObjectKind) -> u8 {
    u8::try_from(kind.code()).expect("object kind codes fit a byte")
}

/// Why a sample was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// Shorter than the header.
    Short {
        /// Its length.
        len: usize,
    },
    /// The first four bytes are not `SHMB`.
    BadMagic([u8; 4]),
    /// Another wire version.
    Version(u8),
    /// A kind byte no object has.
    Kind(u8),
    /// Unknown flags or a non-zero reserved byte.
    Reserved {
        /// The flags byte.
        flags: u8,
        /// The reserved byte.
        reserved: u8,
    },
    /// `end` before `start`.
    Positions {
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// A batch whose records do not fill the payload, name no slot, or
    /// whose slots do not add up to `end - start`.
    Batch(&'static str),
}

impl fmt::Display for Garbage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short { len } => write!(f, "{len} bytes, shorter than the {HEADER_LEN}-byte header"),
            Self::BadMagic(m) => write!(f, "magic {m:02x?} is not \"SHMB\""),
            Self::Version(v) => write!(f, "wire version {v}, this bridge speaks {VERSION}"),
            Self::Kind(k) => write!(f, "kind byte {k} names no object kind"),
            Self::Reserved { flags, reserved } => {
                write!(f, "unknown flags {flags:#04x} or reserved byte {reserved:#04x}")
            }
            Self::Positions { start, end } => write!(f, "end position {end} is before start position {start}"),
            Self::Batch(why) => write!(f, "a bad batch: {why}"),
        }
    }
}

impl Header {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    ///
    /// # Panics
    ///
    /// If `out` is shorter than [`HEADER_LEN`].
    pub fn write_to(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5] = kind_byte(self.kind);
        out[6] = self.flags;
        out[7] = 0;
        out[8..16].copy_from_slice(&self.fingerprint.to_le_bytes());
        out[16..24].copy_from_slice(&self.nonce.to_le_bytes());
        out[24..32].copy_from_slice(&self.start.to_le_bytes());
        out[32..40].copy_from_slice(&self.end.to_le_bytes());
    }

    /// Splits a sample into its header and payload.
    pub fn parse(sample: &[u8]) -> Result<(Self, &[u8]), Garbage> {
        if sample.len() < HEADER_LEN {
            return Err(Garbage::Short { len: sample.len() });
        }
        let word = |at: usize| le64(&sample[at..at + 8]);
        let magic = [sample[0], sample[1], sample[2], sample[3]];
        if magic != MAGIC {
            return Err(Garbage::BadMagic(magic));
        }
        if sample[4] != VERSION {
            return Err(Garbage::Version(sample[4]));
        }
        let kind = ObjectKind::from_code(u32::from(sample[5])).ok_or(Garbage::Kind(sample[5]))?;
        let (flags, reserved) = (sample[6], sample[7]);
        if flags & !(HEARTBEAT | BATCH) != 0 || reserved != 0 {
            return Err(Garbage::Reserved { flags, reserved });
        }
        let (start, end) = (word(24), word(32));
        if end < start {
            return Err(Garbage::Positions { start, end });
        }
        let header = Self { kind, flags, fingerprint: word(8), nonce: word(16), start, end };
        Ok((header, &sample[HEADER_LEN..]))
    }
}

/// Appends one record (an item of `slots` positions) to a batch sample.
/// `None` (nothing appended) if the length or the slots do not fit the
/// record's 32-bit fields, or the slots are 0.
pub fn push_record(sample: &mut Vec<u8>, item: &[u8], slots: u64) -> Option<()> {
    let len = u32::try_from(item.len()).ok()?;
    let slots = u32::try_from(slots).ok().filter(|&s| s > 0)?;
    sample.extend_from_slice(&len.to_le_bytes());
    sample.extend_from_slice(&slots.to_le_bytes());
    sample.extend_from_slice(item);
    Some(())
}

/// The items of a ring sample with their positions: the one item of a
/// plain sample, or the records of a batch, checked whole before the
/// first is yielded.
pub struct Items<'a> {
    rest: &'a [u8],
    at: u64,
    /// The plain sample's item, not yet yielded.
    single: Option<(u64, &'a [u8])>,
}

impl<'a> Items<'a> {
    /// The items of a sample with `header` and `payload`; a batch is
    /// checked whole (records fill the payload exactly, each of at least
    /// one slot, slots adding up to `end - start`).
    pub fn new(header: &Header, payload: &'a [u8]) -> Result<Self, Garbage> {
        if header.flags & BATCH == 0 {
            return Ok(Self { rest: &[], at: header.start, single: Some((header.end, payload)) });
        }
        let mut rest = payload;
        let mut slots_total: u64 = 0;
        let mut any = false;
        while !rest.is_empty() {
            let (len, slots) = record_header(rest).ok_or(Garbage::Batch("a record's header is cut short"))?;
            if slots == 0 {
                return Err(Garbage::Batch("a record of 0 slots"));
            }
            rest = rest
                .get(RECORD_LEN..)
                .and_then(|r| r.get(len..))
                .ok_or(Garbage::Batch("a record runs past the end"))?;
            slots_total = slots_total.checked_add(u64::from(slots)).ok_or(Garbage::Batch("slots overflow"))?;
            any = true;
        }
        if !any {
            return Err(Garbage::Batch("no record"));
        }
        if slots_total != header.end - header.start {
            return Err(Garbage::Batch("the records' slots do not add up to end - start"));
        }
        Ok(Self { rest: payload, at: header.start, single: None })
    }
}

/// A record's length and slots, if `bytes` holds a record header.
fn record_header(bytes: &[u8]) -> Option<(usize, u32)> {
    let head = bytes.get(..RECORD_LEN)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let slots = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    Some((usize::try_from(len).ok()?, slots))
}

impl<'a> Iterator for Items<'a> {
    /// Start position, end position, the item's bytes.
    type Item = (u64, u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((end, item)) = self.single.take() {
            return Some((self.at, end, item));
        }
        // Checked in `new`: every record is whole and the slots add up.
        let (len, slots) = record_header(self.rest)?;
        let item = self.rest.get(RECORD_LEN..RECORD_LEN + len)?;
        self.rest = &self.rest[RECORD_LEN + len..];
        let start = self.at;
        self.at += u64::from(slots);
        Some((start, self.at, item))
    }
}

/// What a stream carries: the source's kind, sizes, type name and schema
/// (the reply on `<key>/@schema`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// The source's kind.
    pub kind: ObjectKind,
    /// Bytes of one item: a byte ring's slot size, a text or bytes
    /// object's capacity, a typed value's size.
    pub size: u64,
    /// Slots of a ring; 0 for a value object.
    pub capacity: u64,
    /// The stored type's name.
    pub type_name: String,
    /// The stored type's schema.
    pub schema: Schema,
}

impl Description {
    /// The encoding sent as the reply.
    pub fn encode(&self) -> Vec<u8> {
        let schema = self.schema.encode();
        let name = self.type_name.as_bytes();
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(26 + name.len() + schema.len());
        out.extend_from_slice(&DESCRIPTION_MAGIC);
        out.extend_from_slice(&[VERSION, kind_byte(self.kind), 0, 0]);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.capacity.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&name[..usize::from(name_len)]);
        out.extend_from_slice(&schema);
        out
    }

    /// Parses a reply, checking everything.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 26 {
            return Err(format!("{} bytes, shorter than a description's 26", bytes.len()));
        }
        if bytes[0..4] != DESCRIPTION_MAGIC || bytes[4] != VERSION || bytes[6..8] != [0, 0] {
            return Err(format!("bad description header {:02x?}", &bytes[0..8]));
        }
        let kind = ObjectKind::from_code(u32::from(bytes[5]))
            .ok_or_else(|| format!("kind byte {} names no kind", bytes[5]))?;
        let word = |at: usize| le64(&bytes[at..at + 8]);
        let name_len = usize::from(u16::from_le_bytes([bytes[24], bytes[25]]));
        let name = bytes.get(26..26 + name_len).ok_or("type name runs past the end")?;
        let type_name = std::str::from_utf8(name).map_err(|_| "type name is not UTF-8")?.to_owned();
        let schema = Schema::parse(&bytes[26 + name_len..]).map_err(|e| format!("schema: {e}"))?;
        Ok(Self { kind, size: word(8), capacity: word(16), type_name, schema })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shm_runtime::format::schema::builtin;

    fn header() -> Header {
        Header { kind: ObjectKind::ByteRing, flags: 0, fingerprint: 7, nonce: 9, start: u64::MAX - 1, end: u64::MAX }
    }

    #[test]
    fn header_round_trips() {
        let mut bytes = vec![0; HEADER_LEN + 3];
        header().write_to(&mut bytes);
        bytes[HEADER_LEN..].copy_from_slice(b"abc");
        assert_eq!(Header::parse(&bytes), Ok((header(), &b"abc"[..])));
    }

    #[test]
    fn garbage_is_refused_with_its_reason() {
        let mut good = vec![0; HEADER_LEN];
        header().write_to(&mut good);
        assert_eq!(Header::parse(&good[..39]), Err(Garbage::Short { len: 39 }));
        let patch = |at: usize, byte: u8| {
            let mut b = good.clone();
            b[at] = byte;
            Header::parse(&b).map(|(h, _)| h)
        };
        assert_eq!(patch(0, b'X'), Err(Garbage::BadMagic(*b"XHMB")));
        assert_eq!(patch(4, 2), Err(Garbage::Version(2)));
        assert_eq!(patch(5, 200), Err(Garbage::Kind(200)));
        assert_eq!(patch(6, 4), Err(Garbage::Reserved { flags: 4, reserved: 0 }));
        assert_eq!(patch(7, 1), Err(Garbage::Reserved { flags: 0, reserved: 1 }));
        assert!(matches!(patch(39, 0), Err(Garbage::Positions { .. })));
    }

    fn batch(items: &[(&[u8], u64)]) -> (Header, Vec<u8>) {
        let mut payload = Vec::new();
        let mut slots = 0;
        for (item, n) in items {
            push_record(&mut payload, item, *n).expect("fits");
            slots += n;
        }
        let h =
            Header { kind: ObjectKind::ByteRing, flags: BATCH, fingerprint: 7, nonce: 9, start: 100, end: 100 + slots };
        (h, payload)
    }

    #[test]
    fn batch_yields_each_item_with_its_positions() {
        let (h, payload) = batch(&[(b"ab", 1), (b"", 1), (b"cde", 3)]);
        let got: Vec<_> = Items::new(&h, &payload).expect("valid").collect();
        assert_eq!(got, [(100, 101, &b"ab"[..]), (101, 102, &b""[..]), (102, 105, &b"cde"[..])]);
        let plain = Header { flags: 0, ..h };
        let got: Vec<_> = Items::new(&plain, b"xyz").expect("valid").collect();
        assert_eq!(got, [(100, 105, &b"xyz"[..])]);
    }

    #[test]
    fn bad_batches_are_refused_whole() {
        let (h, payload) = batch(&[(b"ab", 1), (b"cde", 2)]);
        for cut in 0..payload.len() {
            assert!(Items::new(&h, &payload[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(Items::new(&h, &longer).is_err(), "a byte past the records");
        assert!(Items::new(&Header { end: h.end + 1, ..h }, &payload).is_err(), "slots short of end - start");
        let mut zero = payload.clone();
        zero[4..8].copy_from_slice(&0_u32.to_le_bytes());
        assert!(Items::new(&Header { end: h.end - 1, ..h }, &zero).is_err(), "a record of 0 slots");
        let mut huge = payload;
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Items::new(&h, &huge).is_err(), "a length past the end");
        assert_eq!(push_record(&mut Vec::new(), b"x", 0), None);
        assert_eq!(push_record(&mut Vec::new(), b"x", 1 << 32), None);
    }

    #[test]
    fn description_round_trips_and_refuses_garbage() {
        let d = Description {
            kind: ObjectKind::ByteRing,
            size: 64,
            capacity: 8,
            type_name: "ByteRing".into(),
            schema: Schema::from_desc(builtin::BYTES),
        };
        let bytes = d.encode();
        assert_eq!(Description::parse(&bytes), Ok(d));
        for cut in 0..bytes.len() {
            assert!(Description::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
