//! The header of a mapped segment: storing it and publishing it (the
//! creator), copying it out (an opener, once the state word says ready),
//! and checking the copy against what the opener expects. The layout is
//! [`crate::format::header`]'s; the orderings are
//! [`crate::protocol::publication`]'s.

use crate::format::header::{
    Arch, BYTE_ORDER_MARK, FORMAT_VERSION, HEADER_SIZE, HEADER_WORDS, Header, MAGIC, ObjectKind, PAYLOAD_ALIGN,
    POINTER_WIDTH, STATE_READY, STATE_WORD, total_size,
};
use crate::format::schema::{self, MAX_SCHEMA_SIZE, Schema};
use crate::protocol::publication;
use crate::segment::error::OpenError;
use crate::segment::name::SegmentName;
use core::sync::atomic::{AtomicU64, Ordering};

/// What an opener expects to find, from its own type and the handle.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expected {
    pub kind: ObjectKind,
    pub fingerprint: u64,
    /// The opener's type name, for messages.
    pub type_name: &'static str,
    /// Payload size the handle announced.
    pub payload_size: u64,
    /// Nonce the handle carries.
    pub nonce: u64,
}

/// Copies a live header out of shared memory, one relaxed atomic load per
/// word. The caller has already loaded the state word with `Acquire`
/// (pairs with the `Release` store in [`publish`]), so the words the
/// creator wrote before publishing are visible.
pub(crate) fn snapshot(words: &[AtomicU64; HEADER_WORDS]) -> Header {
    let raw: [u64; HEADER_WORDS] = publication::copy_words(words);
    zerocopy::transmute!(raw)
}

/// Stores `header` into shared memory, every word but the state word
/// (relaxed; ordered by the caller's later [`publish`]).
pub(crate) fn store(header: &Header, words: &[AtomicU64; HEADER_WORDS]) {
    let raw: [u64; HEADER_WORDS] = zerocopy::transmute!(*header);
    publication::store_all_but_state(words, &raw, STATE_WORD);
}

/// Marks the segment ready (see [`publication::publish`]): everything
/// stored before (header words, initial payload) is visible to an opener
/// that sees [`STATE_READY`].
pub(crate) fn publish(words: &[AtomicU64; HEADER_WORDS]) {
    publication::publish(&words[STATE_WORD], STATE_READY);
}

/// Stores the schema's bytes into its words (relaxed, 8 bytes a word in
/// native order, the last zero-padded; ordered by the caller's later
/// [`publish`], which pairs with the opener's acquire load of the state
/// word).
pub(crate) fn store_schema(bytes: &[u8], words: &[AtomicU64]) {
    debug_assert_eq!(words.len(), bytes.len().div_ceil(8));
    for (word, chunk) in words.iter().zip(bytes.chunks(8)) {
        let mut raw = [0u8; 8];
        raw[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_ne_bytes(raw), Ordering::Relaxed);
    }
}

/// Copies `len` schema bytes out of `words`, one relaxed load per word:
/// a peer may write them at any time, so they are parsed from this copy
/// only. The caller loaded the state word with `Acquire` (pairs with the
/// `Release` store in [`publish`]). Fewer words than `len` needs give
/// fewer bytes (which then fail the fingerprint check).
pub(crate) fn load_schema(words: &[AtomicU64], len: u32) -> Vec<u8> {
    let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.load(Ordering::Relaxed).to_ne_bytes()).collect();
    bytes.truncate(len as usize);
    bytes
}

/// Validates a copied header of a segment whose file is `file_size`
/// bytes, against what the opener expects. Checks run in a fixed order
/// (magic, architecture, version, kind, layout, sizes, nonce) so that a
/// foreign file reports `BadMagic` rather than a later mismatch.
pub(crate) fn validate(
    header: &Header,
    name: &SegmentName,
    expected: &Expected,
    file_size: u64,
) -> Result<(), OpenError> {
    let h = header;
    let name = name.clone();
    if h.magic != MAGIC {
        return Err(OpenError::BadMagic { name, found: h.magic });
    }
    let ours = (BYTE_ORDER_MARK, POINTER_WIDTH);
    if (h.byte_order, h.pointer_width) != ours {
        return Err(OpenError::ArchMismatch {
            name,
            expected: Arch { byte_order: ours.0, pointer_width: ours.1 },
            found: Arch { byte_order: h.byte_order, pointer_width: h.pointer_width },
        });
    }
    if h.format_version != FORMAT_VERSION {
        return Err(OpenError::VersionMismatch { name, expected: FORMAT_VERSION, found: h.format_version });
    }
    if h.kind != expected.kind.code() {
        return Err(OpenError::KindMismatch { name, expected: expected.kind, found: h.kind });
    }
    if h.fingerprint != expected.fingerprint {
        return Err(OpenError::LayoutMismatch {
            name,
            expected: expected.fingerprint,
            expected_type: expected.type_name,
            found: h.fingerprint,
            found_type: h.type_name().map(str::to_owned),
            difference: None,
        });
    }
    if h.payload_offset != HEADER_SIZE as u64 {
        return Err(OpenError::Corrupt { name, what: "payload offset is not 128" });
    }
    if !h.payload_align.is_power_of_two() || h.payload_align > PAYLOAD_ALIGN as u64 {
        return Err(OpenError::Corrupt { name, what: "payload alignment is not a power of two up to 64" });
    }
    if h.schema_size as usize > MAX_SCHEMA_SIZE {
        return Err(OpenError::Corrupt { name, what: "schema size is over 65536 bytes" });
    }
    let Some(total) = total_size(h.payload_size, h.schema_size) else {
        return Err(OpenError::Corrupt { name, what: "payload size overflows" });
    };
    if total != file_size {
        return Err(OpenError::SizeMismatch { name, header: total, file: file_size });
    }
    if h.payload_size != expected.payload_size {
        return Err(OpenError::HandleMismatch {
            name,
            field: "payload size",
            handle: expected.payload_size,
            header: h.payload_size,
        });
    }
    if h.nonce != expected.nonce {
        return Err(OpenError::StaleHandle { name, handle_nonce: expected.nonce, segment_nonce: h.nonce });
    }
    Ok(())
}

/// Validates the schema bytes copied out of a segment whose header passed
/// [`validate`]: they must hash to the header's fingerprint (the
/// fingerprint is their checksum) and parse within the limits.
pub(crate) fn validate_schema(header: &Header, bytes: &[u8], name: &SegmentName) -> Result<Schema, OpenError> {
    if schema::fingerprint_of_bytes(bytes) != header.fingerprint {
        return Err(OpenError::Corrupt { name: name.clone(), what: "schema does not hash to the layout fingerprint" });
    }
    Schema::parse(bytes).map_err(|source| OpenError::BadSchema { name: name.clone(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::header::{Layout, STATE_INITIALIZING};
    use core::sync::atomic::Ordering;
    use proptest::prelude::*;

    fn name() -> SegmentName {
        SegmentName::new("shmrs-header-test").unwrap()
    }

    fn header() -> Header {
        let layout = Layout { fingerprint: 0xabcd, ..Layout::of(schema::builtin::INT, "SharedInt") };
        Header::new(ObjectKind::Int, layout, 8, 8, 42, 7, 0)
    }

    fn expected() -> Expected {
        Expected { kind: ObjectKind::Int, fingerprint: 0xabcd, type_name: "Mine", payload_size: 8, nonce: 42 }
    }

    fn heap_words() -> [AtomicU64; HEADER_WORDS] {
        core::array::from_fn(|_| AtomicU64::new(0))
    }

    #[test]
    fn layout_mismatch_names_both_types() {
        let err = validate(&Header { fingerprint: 1, ..header() }, &name(), &expected(), 144).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`Mine`") && text.contains("`SharedInt`"), "{text}");
    }

    #[test]
    fn store_publish_snapshot_round_trips() {
        let words = heap_words();
        let h = header();
        store(&h, &words);
        assert_eq!(words[STATE_WORD].load(Ordering::Relaxed), STATE_INITIALIZING);
        publish(&words);
        let copy = snapshot(&words);
        assert_eq!(copy, Header { state: STATE_READY, ..h });
        assert!(validate(&copy, &name(), &expected(), 144).is_ok());
    }

    #[test]
    fn each_field_has_its_own_error_naming_both_values() {
        let n = name();
        let e = expected();
        let check = |h: Header, file: u64| validate(&h, &n, &e, file).unwrap_err();

        let err = check(Header { magic: *b"garbage!", ..header() }, 144);
        assert!(matches!(err, OpenError::BadMagic { found, .. } if &found == b"garbage!"), "{err}");

        let err = check(Header { byte_order: 0x0403_0201, ..header() }, 144);
        assert!(matches!(err, OpenError::ArchMismatch { found: Arch { byte_order: 0x0403_0201, .. }, .. }), "{err}");
        assert!(err.to_string().contains("swapped byte order"), "{err}");

        let err = check(Header { pointer_width: 4, ..header() }, 144);
        assert!(matches!(err, OpenError::ArchMismatch { found: Arch { pointer_width: 4, .. }, .. }), "{err}");

        let err = check(Header { format_version: 99, ..header() }, 144);
        assert!(matches!(err, OpenError::VersionMismatch { expected: FORMAT_VERSION, found: 99, .. }), "{err}");

        let err = check(Header { kind: ObjectKind::Bytes.code(), ..header() }, 144);
        assert!(matches!(err, OpenError::KindMismatch { expected: ObjectKind::Int, found: 4, .. }), "{err}");

        let err = check(Header { fingerprint: 1, ..header() }, 144);
        assert!(matches!(err, OpenError::LayoutMismatch { expected: 0xabcd, found: 1, .. }), "{err}");

        let err = check(header(), 100);
        assert!(matches!(err, OpenError::SizeMismatch { header: 144, file: 100, .. }), "{err}");

        let err = check(Header { payload_size: 16, ..header() }, 152);
        assert!(matches!(err, OpenError::HandleMismatch { handle: 8, header: 16, .. }), "{err}");

        let err = check(Header { nonce: 43, ..header() }, 144);
        assert!(matches!(err, OpenError::StaleHandle { handle_nonce: 42, segment_nonce: 43, .. }), "{err}");

        let err = check(Header { payload_offset: 64, ..header() }, 144);
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");

        let err = check(Header { payload_size: u64::MAX, ..header() }, 144);
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");

        let err = check(Header { schema_size: 65_537, ..header() }, 144);
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
        let err = check(Header { schema_size: 9, ..header() }, 144);
        assert!(matches!(err, OpenError::SizeMismatch { header: 152, file: 144, .. }), "{err}");
    }

    #[test]
    fn schemas_must_hash_to_the_fingerprint_and_parse() {
        let int = schema::Schema::from_desc(schema::builtin::INT).encode();
        let h = Header { fingerprint: schema::fingerprint_of_bytes(&int), ..header() };
        assert_eq!(validate_schema(&h, &int, &name()).unwrap(), schema::Schema::from_desc(schema::builtin::INT));
        let err = validate_schema(&header(), &int, &name()).unwrap_err();
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
        let garbage = [0xee];
        let h = Header { fingerprint: schema::fingerprint_of_bytes(&garbage), ..header() };
        let err = validate_schema(&h, &garbage, &name()).unwrap_err();
        assert!(matches!(err, OpenError::BadSchema { .. }), "{err}");
        assert!(err.to_string().contains("unknown type tag 0xee"), "{err}");
    }

    proptest! {
        /// C4: any bytes at all give an error or a header identical to a
        /// valid one; validation never panics.
        #[test]
        fn c4_validate_never_panics_on_random_headers(raw in prop::array::uniform16(any::<u64>()), file in any::<u64>()) {
            let h: Header = zerocopy::transmute!(raw);
            let result = validate(&h, &name(), &expected(), file);
            if result.is_ok() {
                prop_assert_eq!(h.magic, MAGIC);
                prop_assert_eq!(h.nonce, 42);
                prop_assert_eq!(Some(file), total_size(8, h.schema_size));
            }
        }

        #[test]
        fn c4_wrong_magic_is_always_bad_magic(magic in any::<[u8; 8]>()) {
            prop_assume!(magic != MAGIC);
            let h = Header { magic, ..header() };
            let is_bad_magic = matches!(validate(&h, &name(), &expected(), 144), Err(OpenError::BadMagic { .. }));
            prop_assert!(is_bad_magic);
        }

    }
}
