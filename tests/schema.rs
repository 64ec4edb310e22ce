//! Segments that describe their own type: the schema a derived type
//! emits, what changes its fingerprint and what does not, `LayoutMismatch`
//! naming the field that differs, and schemas a peer scribbled on (C1, C2,
//! D5 of the reliability matrix, for the schema area).
//!
//! Every object is dropped by its creator before its test ends, which
//! removes its segment.

mod common;

use shm_runtime::format::schema::{self, Prim, Schema};
use shm_runtime::tools::{Peek, PeekError, Value};
use shm_runtime::{Flag, Handle, OpenError, Shared, SharedArray, SharedObject, SharedState};
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Pose {
    position: [f64; 3],
    seq: u32,
    moving: Flag,
    _pad: [u8; 3],
}

const POSE: Pose = Pose { position: [1.5, -2.0, 0.0], seq: 7, moving: Flag::new(true), _pad: [0; 3] };

/// What the README says does not change the fingerprint: visibility, doc
/// comments and other attributes, the module.
mod elsewhere {
    use shm_runtime::{Flag, SharedState};

    /// Documented, public, in another module: the same layout.
    #[derive(SharedState, Clone, Copy, Debug)]
    #[repr(C)]
    pub struct Pose {
        /// Where.
        pub position: [f64; 3],
        #[allow(dead_code, reason = "a decorated field")]
        pub seq: u32,
        pub moving: Flag,
        pub _pad: [u8; 3],
    }
}

/// Same size, one field signed: `LayoutMismatch` names it.
mod signed {
    use shm_runtime::{Flag, SharedState};

    #[derive(SharedState, Clone, Copy, Debug)]
    #[repr(C)]
    pub struct Pose {
        pub position: [f64; 3],
        pub seq: i32,
        pub moving: Flag,
        pub _pad: [u8; 3],
    }
}

/// A nested field renamed.
mod nested {
    use shm_runtime::SharedState;

    #[derive(SharedState, Clone, Copy, Debug)]
    #[repr(C)]
    pub struct Point {
        pub x: f32,
        pub y: f32,
    }

    #[derive(SharedState, Clone, Copy, Debug)]
    #[repr(C)]
    pub struct Path {
        pub points: [Point; 2],
        pub id: u64,
    }

    pub mod renamed {
        use shm_runtime::SharedState;

        #[derive(SharedState, Clone, Copy, Debug)]
        #[repr(C)]
        pub struct Point {
            pub x: f32,
            pub z: f32,
        }

        #[derive(SharedState, Clone, Copy, Debug)]
        #[repr(C)]
        pub struct Path {
            pub points: [Point; 2],
            pub id: u64,
        }
    }
}

#[test]
fn the_derive_emits_the_schema_of_format_md() {
    // The `Pose` and `Path` test vectors of FORMAT.md ("Schema").
    assert_eq!(Pose::FINGERPRINT, 0xfd1a_85f4_6af4_54b8);
    assert_eq!(nested::Path::FINGERPRINT, 0xe03a_e4ee_b80f_5122);
    assert_eq!(nested::Point::FINGERPRINT, 0x57d7_2bd9_67e8_3dd7);
    let owned = Schema::from_desc(Pose::SCHEMA);
    assert_eq!(owned.to_string(), "Pose");
    assert_eq!(owned.size(), Some(32));
    assert_eq!(owned.fingerprint(), Pose::FINGERPRINT);
    assert_eq!(Schema::parse(&owned.encode()), Ok(owned));
    // Primitives and arrays: their schema, and the fingerprint its hash.
    assert_eq!(u32::SCHEMA, &schema::TypeDesc::Prim(Prim::U32));
    assert_eq!(<[f64; 3]>::FINGERPRINT, 0xd8dc_6494_372e_cf28);
}

#[test]
fn c2_fingerprint_ignores_visibility_docs_and_module_and_sees_everything_else() {
    assert_eq!(elsewhere::Pose::FINGERPRINT, Pose::FINGERPRINT);
    assert_ne!(signed::Pose::FINGERPRINT, Pose::FINGERPRINT);
    assert_ne!(nested::renamed::Path::FINGERPRINT, nested::Path::FINGERPRINT);
    // And opening works across the two modules' types.
    let shared = Shared::<Pose>::create_sharedobject(&POSE).unwrap();
    let other = Shared::<elsewhere::Pose>::load_sharedobject(&shared.handle()).unwrap();
    assert_eq!(other.read().seq, 7);
}

#[test]
fn c2_layout_mismatch_names_the_differing_field() {
    let shared = Shared::<Pose>::create_sharedobject(&POSE).unwrap();
    let err = Shared::<signed::Pose>::load_sharedobject(&shared.handle()).unwrap_err();
    let OpenError::LayoutMismatch { difference: Some(difference), .. } = &err else { panic!("{err}") };
    assert_eq!(difference.path, "seq");
    assert!(
        err.to_string().ends_with(": field `seq` is `i32` at offset 24 here but `u32` at offset 24 in the segment"),
        "{err}"
    );

    // Inside an array of nested structs, in a `SharedArray`.
    let paths = SharedArray::<nested::Path>::create_sharedobject(2).unwrap();
    let err = SharedArray::<nested::renamed::Path>::load_sharedobject(&paths.handle()).unwrap_err();
    assert!(err.to_string().contains("field `points[].z` is `f32` at offset 4 here but"), "{err}");
    assert!(err.to_string().contains("field `y`, `f32` at offset 4 in the segment"), "{err}");
}

/// Overwrites bytes of the segment file `name` at `offset`.
fn patch(name: &str, offset: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new().write(true).open(common::shm_path(name)).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// Where the schema of a segment opened by `handle` starts.
fn schema_offset(handle: &Handle) -> u64 {
    128 + handle.payload_size().next_multiple_of(8)
}

/// A forged handle: `handle` with another fingerprint.
fn with_fingerprint(handle: &Handle, fingerprint: u64) -> Handle {
    let (kind, size, nonce, name) = (handle.kind(), handle.payload_size(), handle.nonce(), handle.name());
    format!("shm1:{kind}:{fingerprint:016x}:{size}:{nonce:016x}:{name}").parse().unwrap()
}

#[test]
fn d5_a_schema_a_peer_scribbled_on_is_refused_and_peek_says_why() {
    let shared = Shared::<Pose>::create_sharedobject(&POSE).unwrap();
    let name = shared.name().as_str().to_owned();
    let handle = shared.handle();
    let at = schema_offset(&handle);

    // One byte changed: it no longer hashes to the fingerprint.
    patch(&name, at + 9, b"X");
    let err = Shared::<Pose>::load_sharedobject(&handle).unwrap_err();
    assert!(matches!(&err, OpenError::Corrupt { what, .. } if what.contains("schema")), "{err}");
    let peek = Peek::open(&handle).unwrap();
    assert!(matches!(peek.schema(), Err(PeekError::BadSchema { .. })));
    assert!(matches!(peek.state_value(), Err(PeekError::BadSchema { .. })));
    // The raw value is still there for a tool.
    assert_eq!(peek.state_bytes().unwrap().len(), 32);

    // Garbage that hashes to a fingerprint a forger wrote into the header
    // (and into the handle): parsed, and refused with the parser's reason.
    let garbage = [0x50, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let mut area = garbage.to_vec();
    area.resize(144, 0);
    patch(&name, at, &area);
    // Only the first `schema_size` bytes count: make it 9.
    patch(&name, 124, &9u32.to_ne_bytes());
    let err = Shared::<Pose>::load_sharedobject(&handle).unwrap_err();
    assert!(matches!(&err, OpenError::SizeMismatch { .. }), "the file is now longer than the header says: {err}");
    patch(&name, 124, &144u32.to_ne_bytes());
    let forged = schema::fingerprint_of_bytes(&area);
    patch(&name, 32, &forged.to_ne_bytes());
    let err = Peek::open(&with_fingerprint(&handle, forged)).unwrap().state_value().unwrap_err();
    assert!(err.to_string().contains("bad schema: schema has an invalid or repeated name at byte 1"), "{err}");
    let err = Shared::<Pose>::load_sharedobject(&handle).unwrap_err();
    assert!(matches!(&err, OpenError::LayoutMismatch { found, .. } if *found == forged), "{err}");

    // A schema size past the limit.
    patch(&name, 124, &u32::MAX.to_ne_bytes());
    let err = Peek::open(&with_fingerprint(&handle, forged)).unwrap_err();
    assert!(matches!(&err, OpenError::Corrupt { .. }), "{err}");
}

#[test]
fn peek_decodes_state_and_array_elements_by_field() {
    let shared = Shared::<Pose>::create_sharedobject(&POSE).unwrap();
    let peek = Peek::open(&shared.handle()).unwrap();
    let value = peek.state_value().unwrap();
    assert_eq!(value.field("position").unwrap().to_string(), "[1.5, -2.0, 0.0]");
    assert_eq!(value.field("seq"), Some(&Value::Unsigned(7)));
    assert_eq!(value.field("moving"), Some(&Value::Flag(true)));
    assert_eq!(peek.schema().unwrap(), &Schema::from_desc(Pose::SCHEMA));

    let array = SharedArray::<Pose>::create_sharedobject(3).unwrap();
    array.set(2, &POSE).unwrap();
    let peek = Peek::open(&array.handle()).unwrap();
    assert_eq!(peek.array_element_value(0).unwrap().field("seq"), Some(&Value::Unsigned(0)));
    assert_eq!(peek.array_element_value(2).unwrap().field("moving").unwrap().to_string(), "true");
}

#[test]
fn d1_ring_items_peeked_while_both_sides_run_are_never_torn() {
    use shm_runtime::{Consumer, MemoryInterface};
    const ITEMS: u64 = 5_000;
    let mut tx = MemoryInterface::<[u64; 8]>::create_memorybuf(4).unwrap();
    let mut rx = MemoryInterface::<[u64; 8], Consumer>::load_memorybuf(&tx.handle()).unwrap();
    let peek = Peek::open(&tx.handle()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Items peeked so far. The consumer pauses every 500 items until the
    // peeker has seen one more, so that the peeker meets items in the ring
    // however fast the two sides drain it (the writer keeps going and
    // fills the ring meanwhile); it still runs while both sides do.
    let seen = std::sync::atomic::AtomicU64::new(0);
    let seen_by_consumer = &seen;
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut i = 0;
            while i < ITEMS && std::time::Instant::now() < deadline {
                if tx.write(&[i; 8]).is_ok() {
                    i += 1;
                }
            }
        });
        s.spawn(move || {
            let mut next = 0;
            while next < ITEMS && std::time::Instant::now() < deadline {
                if next % 500 == 250 {
                    let before = seen_by_consumer.load(Ordering::Relaxed);
                    while seen_by_consumer.load(Ordering::Relaxed) == before && std::time::Instant::now() < deadline {
                        std::thread::yield_now();
                    }
                }
                if let Some(item) = rx.read() {
                    assert_eq!(item, [next; 8]);
                    next += 1;
                }
            }
        });
        while std::time::Instant::now() < deadline {
            let unread = peek.ring_unread().unwrap();
            for item in [unread.oldest, unread.newest].into_iter().flatten() {
                let Value::Array { items, .. } = &item.value else { panic!("{:?}", item.value) };
                // Item `p` is `[p; 8]`: one write, whole, at its position.
                assert!(items.iter().all(|v| *v == Value::Unsigned(item.position.into())), "torn: {item:?}");
                seen.fetch_add(1, Ordering::Relaxed);
            }
            if peek.ring().unwrap().read_position == ITEMS {
                break;
            }
        }
    });
    assert!(seen.load(Ordering::Relaxed) >= ITEMS / 500, "peeked too few items: {seen:?}");
}
