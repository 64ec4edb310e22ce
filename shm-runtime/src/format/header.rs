//! The header at the start of every segment.
//!
//! The byte layout is documented in `FORMAT.md`; the const assertions below
//! pin it. This is the plain value: storing it into a live segment,
//! publishing it and copying it out (word by word, with atomics) and
//! validating the copy against what an opener expects is
//! [`crate::segment`]'s.

use core::mem::{offset_of, size_of};
use std::fmt;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::format::schema::{self, Schema, TypeDesc};

/// The eight bytes every segment made by shm starts with.
pub const MAGIC: [u8; 8] = *b"SHMRS\0\x01\x1a";

/// Version of the byte layout in `FORMAT.md`; bumped on any change.
pub const FORMAT_VERSION: u32 = 3;

/// State word while the creator is still setting the segment up.
pub const STATE_INITIALIZING: u64 = 0;
/// State word once the header and the initial value are complete
/// (`"SHMREADY"` read as a big-endian number, unlikely in random bytes).
pub const STATE_READY: u64 = u64::from_be_bytes(*b"SHMREADY");

/// `0x0102_0304` stored in the writer's byte order: a reader with the other
/// byte order sees `0x0403_0201`.
pub const BYTE_ORDER_MARK: u32 = 0x0102_0304;

/// Size of the header; the payload starts right after it.
pub const HEADER_SIZE: usize = 128;

/// Alignment of the payload (and of every mapping, which is page aligned).
pub const PAYLOAD_ALIGN: usize = 64;

/// Bytes of the header's type name field (a length byte, then the name).
pub const TYPE_NAME_BYTES: usize = 36;

/// The header, as stored at offset 0 of every segment.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`STATE_INITIALIZING`] or [`STATE_READY`]; published last.
    pub state: u64,
    /// [`BYTE_ORDER_MARK`] in the creator's byte order.
    pub byte_order: u32,
    /// `size_of::<usize>()` of the creator.
    pub pointer_width: u32,
    /// [`FORMAT_VERSION`] of the creator.
    pub format_version: u32,
    /// [`ObjectKind`] code.
    pub kind: u32,
    /// Layout fingerprint of the stored type.
    pub fingerprint: u64,
    /// Offset of the payload from the start of the segment ([`HEADER_SIZE`]).
    pub payload_offset: u64,
    /// Payload size in bytes; the file is `payload_offset` plus this,
    /// rounded up to 8.
    pub payload_size: u64,
    /// Alignment the payload needs, a power of two up to [`PAYLOAD_ALIGN`].
    pub payload_align: u64,
    /// Random number chosen at creation; handles carry it.
    pub nonce: u64,
    /// Identity of the creating process (its pid in the low 32 bits, then
    /// the lock that proves it alive; see [`creator_pid`](Self::creator_pid)
    /// and FORMAT.md), stored first (before the rest of the header) so an
    /// opener or a cleaner can tell an abandoned initialization or a stale
    /// segment.
    pub creator: u64,
    /// Creation time, nanoseconds since the Unix epoch (informational).
    pub created_unix_ns: u64,
    /// Name of the stored type, for messages and tools: byte 0 is the
    /// length (at most 39), then that many bytes of UTF-8, then zeros.
    /// Informational: never trusted for a decision (the fingerprint is).
    pub type_name: [u8; TYPE_NAME_BYTES],
    /// Length in bytes of the schema (the encoded description of the
    /// stored type, [`crate::format::schema`]), which follows the payload
    /// at [`schema_offset`](Self::schema_offset); its checksum is the
    /// fingerprint, the hash of those bytes.
    pub schema_size: u32,
}

const _: () = {
    assert!(size_of::<Header>() == HEADER_SIZE);
    assert!(offset_of!(Header, magic) == 0);
    assert!(offset_of!(Header, state) == 8);
    assert!(offset_of!(Header, byte_order) == 16);
    assert!(offset_of!(Header, pointer_width) == 20);
    assert!(offset_of!(Header, format_version) == 24);
    assert!(offset_of!(Header, kind) == 28);
    assert!(offset_of!(Header, fingerprint) == 32);
    assert!(offset_of!(Header, payload_offset) == 40);
    assert!(offset_of!(Header, payload_size) == 48);
    assert!(offset_of!(Header, payload_align) == 56);
    assert!(offset_of!(Header, nonce) == 64);
    assert!(offset_of!(Header, creator) == 72);
    assert!(offset_of!(Header, created_unix_ns) == 80);
    assert!(offset_of!(Header, type_name) == 88);
    assert!(offset_of!(Header, schema_size) == 124);
    assert!(HEADER_SIZE.is_multiple_of(PAYLOAD_ALIGN));
};

/// `size_of::<usize>()` as stored in the header.
#[expect(clippy::cast_possible_truncation, reason = "a pointer width fits in u32 on every target")]
pub(crate) const POINTER_WIDTH: u32 = size_of::<usize>() as u32;

/// Number of 64-bit words in the header.
pub const HEADER_WORDS: usize = HEADER_SIZE / 8;
/// Index of the state word.
pub const STATE_WORD: usize = offset_of!(Header, state) / 8;
/// Index of the creator identity word.
pub const CREATOR_WORD: usize = offset_of!(Header, creator) / 8;

/// What a segment holds.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// [`SharedInt`](crate::SharedInt): one `i64`.
    Int,
    /// [`SharedBool`](crate::SharedBool): one byte.
    Bool,
    /// [`SharedString`](crate::SharedString): UTF-8 text up to a capacity.
    String,
    /// [`SharedBytes`](crate::SharedBytes): bytes up to a capacity.
    Bytes,
    /// [`Shared<T>`](crate::Shared): a `#[derive(SharedState)]` struct or
    /// another [`SharedState`](crate::SharedState) type.
    State,
    /// [`MemoryInterface<T>`](crate::MemoryInterface): a single-producer,
    /// single-consumer ring of `SharedState` values.
    Ring,
    /// [`SharedArray<T>`](crate::SharedArray): a fixed-length array of
    /// `SharedState` values, each element its own two-copy cell.
    Array,
    /// [`ByteRing`](crate::ByteRing): a single-producer, single-consumer
    /// ring of byte messages of up to a slot size.
    ByteRing,
    /// [`Broadcast<T>`](crate::Broadcast): one publisher, many
    /// subscribers, each with its own read position.
    Broadcast,
    /// [`ByteBroadcast`](crate::ByteBroadcast): a broadcast of byte
    /// messages of up to a slot size.
    ByteBroadcast,
}

impl ObjectKind {
    const ALL: [Self; 10] = [
        Self::Int,
        Self::Bool,
        Self::String,
        Self::Bytes,
        Self::State,
        Self::Ring,
        Self::Array,
        Self::ByteRing,
        Self::Broadcast,
        Self::ByteBroadcast,
    ];

    /// The number stored in the header.
    #[must_use]
    pub const fn code(self) -> u32 {
        match self {
            Self::Int => 1,
            Self::Bool => 2,
            Self::String => 3,
            Self::Bytes => 4,
            Self::State => 5,
            Self::Ring => 6,
            Self::Array => 7,
            Self::ByteRing => 8,
            Self::Broadcast => 9,
            Self::ByteBroadcast => 10,
        }
    }

    /// The kind stored as `code`, if it is one this version knows.
    #[must_use]
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The word used in handles (`int`, `bool`, `string`, `bytes`, `state`,
    /// `ring`, `array`, `bytering`, `broadcast`, `bytebroadcast`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Int => "int",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Bytes => "bytes",
            Self::State => "state",
            Self::Ring => "ring",
            Self::Array => "array",
            Self::ByteRing => "bytering",
            Self::Broadcast => "broadcast",
            Self::ByteBroadcast => "bytebroadcast",
        }
    }

    /// The kind named `word` in a handle.
    #[must_use]
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored type, as the header records it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout<'a> {
    /// Layout fingerprint (checked): [`fingerprint`](schema::fingerprint)
    /// of `schema`.
    pub fingerprint: u64,
    /// Type name (for messages only).
    pub type_name: &'static str,
    /// The stored type's schema, written after the payload.
    pub schema: SchemaRef<'a>,
}

/// The schema a [`Layout`] describes: a compile-time type's, a run-time
/// one's, or (opening only) whatever the segment holds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SchemaRef<'a> {
    /// A `SharedState` type's or a built-in object's, built in `const`.
    Desc(&'static TypeDesc),
    /// A type known at run time (`shm_runtime::dynamic`).
    Owned(&'a Schema),
    /// An opener that takes the segment's own schema (checked against
    /// the fingerprint it announces, as every schema is); never created.
    Stored,
}

impl SchemaRef<'_> {
    /// The schema as an owned value; `None` for [`Stored`](Self::Stored).
    pub(crate) fn to_schema(self) -> Option<Schema> {
        match self {
            Self::Desc(desc) => Some(Schema::from_desc(desc)),
            Self::Owned(schema) => Some(schema.clone()),
            Self::Stored => None,
        }
    }

    /// Length of the encoding, saturating; 0 for [`Stored`](Self::Stored).
    fn encoded_len(self) -> usize {
        match self {
            Self::Desc(desc) => schema::encoded_len(desc),
            Self::Owned(schema) => schema.encode().len(),
            Self::Stored => 0,
        }
    }
}

impl Layout<'static> {
    /// The layout of a type described by `schema`, named `type_name`.
    pub(crate) const fn of(schema: &'static TypeDesc, type_name: &'static str) -> Self {
        Self { fingerprint: schema::fingerprint(schema), type_name, schema: SchemaRef::Desc(schema) }
    }
}

/// The header field for `name`: its length, then the name. A name too long
/// for the field keeps its end (the type, rather than the module path),
/// after an ellipsis.
fn encode_type_name(name: &str) -> [u8; TYPE_NAME_BYTES] {
    const ELLIPSIS: &str = "\u{2026}";
    let room = TYPE_NAME_BYTES - 1;
    let mut field = [0u8; TYPE_NAME_BYTES];
    let mut put = |at: usize, bytes: &[u8]| field[1 + at..1 + at + bytes.len()].copy_from_slice(bytes);
    let len = if name.len() <= room {
        put(0, name.as_bytes());
        name.len()
    } else {
        let mut start = name.len() - (room - ELLIPSIS.len());
        while !name.is_char_boundary(start) {
            start += 1;
        }
        put(0, ELLIPSIS.as_bytes());
        put(ELLIPSIS.len(), &name.as_bytes()[start..]);
        ELLIPSIS.len() + name.len() - start
    };
    field[0] = u8::try_from(len).expect("at most 35 bytes");
    field
}

/// Rounds `n` up to a multiple of 8, or `None` on overflow.
pub(crate) const fn round_up_8(n: u64) -> Option<u64> {
    match n.checked_add(7) {
        Some(v) => Some(v & !7),
        None => None,
    }
}

/// Where the payload of `payload_size` bytes ends (rounded up to 8), which
/// is where the schema starts, or `None` on overflow.
pub(crate) fn payload_end(payload_size: u64) -> Option<u64> {
    round_up_8(payload_size)?.checked_add(HEADER_SIZE as u64)
}

/// Total file size for a payload of `payload_size` bytes and a schema of
/// `schema_size` bytes, or `None` on overflow.
pub(crate) fn total_size(payload_size: u64, schema_size: u32) -> Option<u64> {
    payload_end(payload_size)?.checked_add(round_up_8(u64::from(schema_size))?)
}

impl Header {
    /// A header for a new segment, state still [`STATE_INITIALIZING`].
    pub(crate) fn new(
        kind: ObjectKind,
        layout: Layout<'_>,
        payload_size: u64,
        payload_align: u64,
        nonce: u64,
        creator: u64,
        created_unix_ns: u64,
    ) -> Self {
        Self {
            magic: MAGIC,
            state: STATE_INITIALIZING,
            byte_order: BYTE_ORDER_MARK,
            pointer_width: POINTER_WIDTH,
            format_version: FORMAT_VERSION,
            kind: kind.code(),
            fingerprint: layout.fingerprint,
            payload_offset: HEADER_SIZE as u64,
            payload_size,
            payload_align,
            nonce,
            creator,
            created_unix_ns,
            type_name: encode_type_name(layout.type_name),
            // At most `MAX_SCHEMA_SIZE`: `schema::check` ran on every
            // schema a type declares, `ItemType::new` parsed every run-time
            // one.
            schema_size: u32::try_from(layout.schema.encoded_len()).unwrap_or(u32::MAX),
        }
    }

    /// Where the schema starts (the end of the payload, rounded up to 8),
    /// or `None` when the payload size overflows.
    #[must_use]
    pub fn schema_offset(&self) -> Option<u64> {
        payload_end(self.payload_size)
    }

    /// Process id of the creator (the low 32 bits of [`creator`](Self::creator)).
    #[must_use]
    pub const fn creator_pid(&self) -> u64 {
        crate::format::identity::pid_of(self.creator)
    }

    /// The stored type's name, if the field holds a well-formed one (an
    /// empty, overlong or non-UTF-8 field gives `None`).
    pub fn type_name(&self) -> Option<&str> {
        let (len, bytes) = self.type_name.split_first()?;
        let name = core::str::from_utf8(bytes.get(..usize::from(*len))?).ok()?;
        Some(name).filter(|name| !name.is_empty())
    }
}

/// Byte order mark and pointer width of one side, as found in a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    /// The byte order mark `0x0102_0304` as read by this process
    /// (`0x0403_0201` when the writer had the other byte order).
    pub byte_order: u32,
    /// Pointer width in bytes.
    pub pointer_width: u32,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = match self.byte_order {
            BYTE_ORDER_MARK => "native byte order",
            0x0403_0201 => "swapped byte order",
            _ => "unknown byte order",
        };
        write!(f, "{order}, {}-bit pointers", self.pointer_width.saturating_mul(8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn type_names_round_trip_and_long_ones_keep_their_end() {
        let name_of = |name: &str| {
            let field = encode_type_name(name);
            Header { type_name: field, ..header() }.type_name().map(str::to_owned)
        };
        assert_eq!(name_of("robot::Pose").as_deref(), Some("robot::Pose"));
        assert_eq!(name_of(""), None);
        let exact = "a".repeat(35);
        assert_eq!(name_of(&exact), Some(exact));
        let long = format!("{}::Pose", "very_long_module".repeat(4));
        assert_eq!(name_of(&long).as_deref(), Some(format!("\u{2026}{}", &long[long.len() - 32..]).as_str()));
        // A multi-byte character across the cut is dropped whole.
        let wide = format!("{}::\u{e9}t\u{e9}", "m".repeat(40));
        let kept = name_of(&wide).unwrap();
        assert!(kept.len() <= 35 && kept.starts_with('\u{2026}') && kept.ends_with("::\u{e9}t\u{e9}"), "{kept}");
    }

    #[test]
    fn malformed_type_name_fields_read_as_none() {
        let mut field = [0u8; TYPE_NAME_BYTES];
        field[0] = 36;
        assert_eq!(Header { type_name: field, ..header() }.type_name(), None, "length past the field");
        field[0] = 2;
        field[1..3].copy_from_slice(&[0xff, 0xfe]);
        assert_eq!(Header { type_name: field, ..header() }.type_name(), None, "not UTF-8");
    }

    fn header() -> Header {
        let layout = Layout { fingerprint: 0xabcd, ..Layout::of(schema::builtin::INT, "SharedInt") };
        Header::new(ObjectKind::Int, layout, 8, 8, 42, 7, 0)
    }

    #[test]
    fn kind_codes_and_words_round_trip() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_code(kind.code()), Some(kind));
            assert_eq!(ObjectKind::from_word(kind.as_str()), Some(kind));
        }
        assert_eq!(ObjectKind::from_code(0), None);
        assert_eq!(ObjectKind::from_word("Int"), None);
    }

    #[test]
    fn b2_total_size_overflow_is_detected() {
        assert_eq!(total_size(u64::MAX, 0), None);
        assert_eq!(total_size(u64::MAX - 7 - HEADER_SIZE as u64 + 1, 0), None);
        assert_eq!(total_size(u64::MAX - 7 - HEADER_SIZE as u64, 1), None);
        assert_eq!(total_size(1, 0), Some(136));
        assert_eq!(total_size(1, 1), Some(144));
        assert_eq!(total_size(0, 0), Some(128));
    }

    proptest! {
        #[test]
        fn b2_total_size_is_checked(size in any::<u64>()) {
            match payload_end(size) {
                Some(t) => {
                    prop_assert!(t >= size);
                    prop_assert_eq!(t % 8, 0);
                    prop_assert!(t - HEADER_SIZE as u64 - size < 8);
                }
                None => prop_assert!(u128::from(size) + 7 + HEADER_SIZE as u128 > u128::from(u64::MAX)),
            }
        }
    }
}
