//! Unit tests of the run-time-typed objects against the typed ones, in
//! one process (the cross-process ones are in `tests/dynamic.rs`).

use super::*;
use crate::OpenOptions;
use crate::format::schema::{FieldSchema, Prim, StructSchema};
use crate::object::bytes::CellSegment;
use crate::object::ring::end::End;
use crate::{Consumer, MemoryInterface, Producer, Ring, Shared, SharedObject};
use crate::{Flag, OpenError, ReadError, RingError, SendError, SharedState, WriteError};
use std::time::Duration;

#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[shm(crate = "crate")]
#[repr(C)]
struct Pose {
    position: [f64; 3],
    seq: u32,
    moving: Flag,
    _pad: [u8; 3],
}

/// `Pose`'s schema, written out field by field as another language would.
fn pose_schema(seq: Prim) -> Schema {
    let field = |name: &str, offset, ty| FieldSchema { name: name.to_owned(), offset, ty };
    Schema::Struct(StructSchema {
        name: "Pose".to_owned(),
        size: 32,
        align: 8,
        fields: vec![
            field("position", 0, Schema::Array { len: 3, element: Box::new(Schema::Prim(Prim::F64)) }),
            field("seq", 24, Schema::Prim(seq)),
            field("moving", 28, Schema::Prim(Prim::Flag)),
            field("_pad", 29, Schema::Array { len: 3, element: Box::new(Schema::Prim(Prim::U8)) }),
        ],
    })
}

fn pose(i: u32) -> Pose {
    Pose { position: [f64::from(i), -1.5, 0.25], seq: i, moving: Flag::new(i.is_multiple_of(2)), _pad: [0; 3] }
}

fn bytes_of(pose: &Pose) -> Vec<u8> {
    crate::object::state::bytes_of(pose).to_vec()
}

fn pose_type() -> ItemType {
    ItemType::new("Pose", pose_schema(Prim::U32)).unwrap()
}

#[test]
fn a_schema_built_field_by_field_has_the_derived_fingerprint() {
    let item = pose_type();
    assert_eq!(item.fingerprint(), Pose::FINGERPRINT);
    assert_eq!(item.size(), size_of::<Pose>());
    assert_eq!(item.schema(), ItemType::of::<Pose>().schema());
    assert_eq!(item.type_name(), "Pose");
    assert_ne!(ItemType::new("Pose", pose_schema(Prim::I32)).unwrap().fingerprint(), Pose::FINGERPRINT);
}

#[test]
fn item_types_are_checked() {
    let long = "n".repeat(MAX_TYPE_NAME_LEN + 1);
    assert_eq!(
        ItemType::new(&long, Schema::Prim(Prim::U8)),
        Err(ItemTypeError::TypeNameTooLong { len: MAX_TYPE_NAME_LEN + 1, max: MAX_TYPE_NAME_LEN })
    );
    assert!(ItemType::new(&long[1..], Schema::Prim(Prim::U8)).is_ok(), "the longest name fits");
    assert_eq!(ItemType::new("", Schema::Prim(Prim::U8)), Err(ItemTypeError::EmptyTypeName));
    let any: crate::Error = ItemTypeError::EmptyTypeName.into();
    assert_eq!(any.to_string(), "an item type needs a name of at least one byte", "one error type for `?`");
    assert!(matches!(ItemType::new("b", Schema::Prim(Prim::Bytes)), Err(ItemTypeError::Unsized { .. })));
    let empty = Schema::Array { len: 0, element: Box::new(Schema::Prim(Prim::U8)) };
    assert!(matches!(ItemType::new("e", empty), Err(ItemTypeError::BadSchema(_))));
    let Schema::Struct(mut wrong) = pose_schema(Prim::U32) else { unreachable!() };
    wrong.size = 40;
    assert!(matches!(ItemType::new("Pose", Schema::Struct(wrong)), Err(ItemTypeError::BadSchema(_))));
    let huge = Schema::Array { len: u64::MAX / 2, element: Box::new(Schema::Prim(Prim::U16)) };
    assert!(matches!(ItemType::new("huge", huge), Err(ItemTypeError::BadSchema(_) | ItemTypeError::TooLarge { .. })));
}

#[test]
fn dyn_ring_to_typed_consumer_and_back() {
    let mut tx = DynRing::<Producer>::create(&pose_type(), 4).unwrap();
    let mut rx = MemoryInterface::<Pose, Consumer>::load_memorybuf(&tx.handle()).unwrap();
    for i in 0..10 {
        tx.write(&bytes_of(&pose(i))).unwrap();
        assert_eq!(rx.read(), Some(pose(i)));
    }
    drop((tx, rx));

    let mut tx = MemoryInterface::<Pose>::create_memorybuf(4).unwrap();
    let mut rx = DynRing::<Consumer>::load(&tx.handle(), None, &OpenOptions::new()).unwrap();
    assert_eq!(rx.item_type().fingerprint(), Pose::FINGERPRINT);
    // Named as the header names it: the end of a long name.
    let stored = rx.item_type().type_name();
    assert!(Pose::TYPE_NAME.ends_with(stored.trim_start_matches('\u{2026}')), "{stored}");
    let mut out = vec![0; 32];
    for i in 0..10 {
        tx.write(&pose(i)).unwrap();
        assert!(rx.read(&mut out).unwrap());
        assert_eq!(out, bytes_of(&pose(i)));
    }
    assert!(!rx.read(&mut out).unwrap());
    assert!(matches!(rx.read_timeout(&mut out, Duration::from_millis(1)), Err(RingError::Timeout { .. })));
}

#[test]
fn dyn_ring_fills_refuses_and_closes_like_a_typed_one() {
    let item = ItemType::of::<u64>();
    let mut tx = DynRing::<Producer>::create(&item, 2).unwrap();
    let mut rx = DynRing::<Consumer>::load(&tx.handle(), Some(&item), &OpenOptions::new()).unwrap();
    assert_eq!(tx.write(&[0; 7]), Err(SendError::WrongSize { len: 7, size: 8 }));
    assert!(matches!(tx.write_timeout(&[0; 9], Duration::ZERO), Err(RingError::WrongSize { len: 9, size: 8, .. })));
    tx.write(&1u64.to_ne_bytes()).unwrap();
    tx.write_blocking(&2u64.to_ne_bytes()).unwrap();
    assert_eq!(tx.write(&3u64.to_ne_bytes()), Err(SendError::Full));
    assert_eq!((tx.len(), tx.capacity()), (2, 2));
    let mut out = [0u8; 8];
    assert!(matches!(rx.read(&mut [0; 4]), Err(RingError::WrongSize { len: 4, size: 8, .. })));
    assert!(matches!(rx.read_blocking(&mut [0; 16]), Err(RingError::WrongSize { len: 16, .. })));
    rx.read_blocking(&mut out).unwrap();
    assert_eq!(u64::from_ne_bytes(out), 1);
    drop(tx);
    rx.read_timeout(&mut out, Duration::from_secs(1)).unwrap();
    assert_eq!(u64::from_ne_bytes(out), 2);
    assert!(matches!(rx.read_blocking(&mut out), Err(RingError::Closed { role: "producer", .. })));
}

#[test]
fn open_as_another_type_names_the_field() {
    let name = format!("shmrs-test-dyn-open-as-{}", std::process::id());
    let tx = DynRing::<Producer>::create_named(&name, &pose_type(), 2).unwrap();
    let other = ItemType::new("Pose", pose_schema(Prim::I32)).unwrap();
    let err = DynRing::<Consumer>::open_as(&name, &other).unwrap_err();
    let OpenError::LayoutMismatch { expected, found, difference: Some(difference), .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((*expected, *found), (other.fingerprint(), Pose::FINGERPRINT));
    assert_eq!(difference.path, "seq", "{err}");
    assert!(err.to_string().contains("`seq`"), "{err}");
    // The typed one is refused the same way, and the right type opens.
    assert!(matches!(MemoryInterface::<[u8; 32], Consumer>::open(&name), Err(OpenError::LayoutMismatch { .. })));
    let rx = DynRing::<Consumer>::open_as(&name, &pose_type()).unwrap();
    drop((tx, rx));

    let shared = DynShared::create_named(&name, &pose_type(), &bytes_of(&pose(1))).unwrap();
    let err = DynShared::open_as(&name, &other).unwrap_err();
    assert!(matches!(&err, OpenError::LayoutMismatch { difference: Some(d), .. } if d.path == "seq"), "{err}");
    let err = DynRing::<Consumer>::open(&name).unwrap_err();
    assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
    drop(shared);
}

#[test]
fn dyn_shared_and_shared_open_each_other() {
    let item = pose_type();
    let value = DynShared::create(&item, &bytes_of(&pose(1))).unwrap();
    let typed = Shared::<Pose>::load_sharedobject(&value.handle()).unwrap();
    assert_eq!(typed.read(), pose(1));
    typed.write(&pose(2)).unwrap();
    let mut out = vec![0; 32];
    value.read(&mut out).unwrap();
    assert_eq!(out, bytes_of(&pose(2)));
    let since = value.version();
    value.write(&bytes_of(&pose(3))).unwrap();
    assert_eq!(value.wait_changed(since, Duration::from_secs(1)), Some(since.wrapping_add(1)));
    assert_eq!(typed.read(), pose(3));

    let typed = Shared::create_sharedobject(&pose(4)).unwrap();
    let value = DynShared::load(&typed.handle(), None, &OpenOptions::new()).unwrap();
    assert_eq!(value.item_type().fingerprint(), Pose::FINGERPRINT);
    value.read(&mut out).unwrap();
    assert_eq!(out, bytes_of(&pose(4)));
    value.update(|bytes| bytes[24] = 9).unwrap();
    assert_eq!(typed.read().seq, 9);
}

#[test]
fn dyn_shared_refuses_wrong_sizes() {
    let item = ItemType::of::<u32>();
    let err = DynShared::create(&item, &[0; 3]).unwrap_err();
    assert!(matches!(err, crate::CreateError::WrongSize { len: 3, size: 4, .. }), "{err}");
    let value = DynShared::create(&item, &[1, 0, 0, 0]).unwrap();
    let err = value.write(&[0; 5]).unwrap_err();
    assert!(matches!(err, WriteError::WrongSize { len: 5, size: 4, .. }), "{err}");
    let err = value.read(&mut [0; 2]).unwrap_err();
    assert!(matches!(err, ReadError::WrongSize { len: 2, size: 4, .. }), "{err}");
    let mut out = [0; 4];
    value.read(&mut out).unwrap();
    assert_eq!(out, [1, 0, 0, 0], "nothing was written");
}

/// A ring whose schema (hashed right) says 16-byte items over 8-byte
/// slots: what a hostile creator could make.
#[test]
fn a_schema_disagreeing_with_the_slots_is_refused() {
    let sixteen = ItemType::of::<[u8; 16]>();
    let end = End::<Producer>::create(None, crate::ObjectKind::Ring, sixteen.layout(), 4, 1, 8).unwrap();
    let handle = end.segment().handle();
    let err = DynRing::<Consumer>::load(&handle, None, &OpenOptions::new()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { what, .. } if what.contains("schema's size")), "{err}");
    let err = DynRing::<Consumer>::load(&handle, Some(&sixteen), &OpenOptions::new()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    let err = MemoryInterface::<[u8; 16], Consumer>::load_memorybuf(&handle).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    drop(end);

    // A value whose schema says 16 bytes over a cell of 8.
    let cell = CellSegment::create_with(None, crate::ObjectKind::State, sixteen.layout(), 8, &[0; 8]).unwrap();
    let err = DynShared::load(&cell.segment().handle(), None, &OpenOptions::new()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
}

#[test]
fn batches_move_whole_items_and_agree_with_the_typed_ring() {
    let item = ItemType::of::<[u8; 3]>();
    let mut tx = DynRing::<Producer>::create(&item, 4).unwrap();
    let mut rx = MemoryInterface::<[u8; 3], Consumer>::load_memorybuf(&tx.handle()).unwrap();
    assert_eq!(tx.write_slice(&[0; 4]), Err(SendError::WrongSize { len: 4, size: 3 }));
    let items: Vec<u8> = (0..18).collect();
    assert_eq!(tx.write_slice(&items), Ok(4), "four slots");
    let mut got = [[0u8; 3]; 8];
    assert_eq!(rx.read_into(&mut got), 4);
    assert_eq!(got[..4], [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]);
    drop((tx, rx));

    let mut tx = MemoryInterface::<[u8; 3]>::create_memorybuf(4).unwrap();
    let mut rx = DynRing::<Consumer>::load_memorybuf(&tx.handle()).unwrap();
    assert_eq!(tx.write_slice(&[[1, 2, 3], [4, 5, 6]]), 2);
    assert!(matches!(rx.read_into(&mut [0; 5]), Err(RingError::WrongSize { len: 5, size: 3, .. })));
    let mut out = [0u8; 9];
    assert_eq!(rx.read_into(&mut out), Ok(2));
    assert_eq!(out, [1, 2, 3, 4, 5, 6, 0, 0, 0]);
    assert_eq!(rx.read_into(&mut out), Ok(0));
    assert_eq!((rx.read_count(), rx.len()), (2, 0));
}

#[test]
fn dyn_array_and_shared_array_open_each_other() {
    use crate::{ArrayError, SharedArray};
    let item = pose_type();
    let initial: Vec<u8> = (0..3).flat_map(|i| bytes_of(&pose(i))).collect();
    let array = DynArray::create_from_bytes(None, &item, &initial).unwrap();
    assert_eq!(array.len(), 3);
    let typed = SharedArray::<Pose>::load_sharedobject(&array.handle()).unwrap();
    assert_eq!(typed.to_vec(), [pose(0), pose(1), pose(2)]);
    typed.set(1, &pose(7)).unwrap();
    let mut out = vec![0; 32];
    array.get(1, &mut out).unwrap();
    assert_eq!(out, bytes_of(&pose(7)));
    array.set(2, &bytes_of(&pose(8))).unwrap();
    array.update(0, |bytes| bytes[24] = 5).unwrap();
    assert_eq!(typed.get(2), Some(pose(8)));
    assert_eq!(typed.get(0).unwrap().seq, 5);
    let mut all = vec![0; 96];
    array.copy_to(&mut all).unwrap();
    assert_eq!(all[32..64], bytes_of(&pose(7)));

    // Wrong sizes and indices change nothing.
    let err = array.set(0, &[0; 31]).unwrap_err();
    assert!(matches!(err, ArrayError::WrongSize { len: 31, size: 32, .. }), "{err}");
    assert!(matches!(array.get(3, &mut out), Err(ArrayError::IndexOutOfRange { index: 3, len: 3, .. })));
    assert!(matches!(array.copy_to(&mut all[1..]), Err(ArrayError::WrongSize { len: 95, size: 96, .. })));
    assert_eq!(typed.get(0).unwrap().seq, 5);
    let err = DynArray::create_from_bytes(None, &item, &[0; 33]).unwrap_err();
    assert!(matches!(err, crate::CreateError::WrongSize { len: 33, size: 32, .. }), "{err}");

    // The typed array opened with the segment's own type, and with another.
    let typed = SharedArray::create_from_slice(&[pose(4), pose(5)]).unwrap();
    let array = DynArray::load(&typed.handle(), None, &OpenOptions::new()).unwrap();
    assert_eq!((array.len(), array.item_type().fingerprint()), (2, Pose::FINGERPRINT));
    array.get(1, &mut out).unwrap();
    assert_eq!(out, bytes_of(&pose(5)));
    let other = ItemType::new("Pose", pose_schema(Prim::I32)).unwrap();
    let err = DynArray::load(&typed.handle(), Some(&other), &OpenOptions::new()).unwrap_err();
    assert!(matches!(&err, OpenError::LayoutMismatch { difference: Some(d), .. } if d.path == "seq"), "{err}");
    assert_eq!(DynArray::create(&item, 0).unwrap().len(), 0, "an empty array");
}

/// An array whose schema (hashed right) says 16-byte elements over stored
/// 8-byte ones.
#[test]
fn a_dyn_array_schema_disagreeing_with_the_elements_is_refused() {
    let sixteen = ItemType::of::<[u8; 16]>();
    let (segment, _) = crate::object::array::create_segment(None, sixteen.layout(), 8, 2, |_| vec![0; 8]).unwrap();
    let err = DynArray::load(&segment.handle(), None, &OpenOptions::new()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
}

#[derive(SharedState, Clone, Copy)]
#[shm(crate = "crate")]
#[repr(C)]
struct Wide {
    big: u128,
    small: [i16; 4],
    pose: Pose,
    ratio: f32,
    tag: [u8; 4],
}

#[test]
fn from_fields_lays_out_as_repr_c_and_matches_the_derive() {
    let owned = |fields: Vec<(&str, Schema)>| fields.into_iter().map(|(n, s)| (n.to_owned(), s)).collect::<Vec<_>>();
    let array = |len, element| Schema::Array { len, element: Box::new(element) };
    let pose = || Schema::from_desc(Pose::SCHEMA);
    let wide = owned(vec![
        ("big", Schema::Prim(Prim::U128)),
        ("small", array(4, Schema::Prim(Prim::I16))),
        ("pose", pose()),
        ("ratio", Schema::Prim(Prim::F32)),
        ("tag", array(4, Schema::Prim(Prim::U8))),
    ]);
    let item = ItemType::from_fields("robot::Wide", wide.clone()).unwrap();
    assert_eq!(item.fingerprint(), Wide::FINGERPRINT, "{:?}", item.schema());
    assert_eq!((item.size(), item.type_name()), (size_of::<Wide>(), "robot::Wide"));

    // Without `tag`: padding after the last field (to the 16-byte
    // alignment `big` gives the struct), named.
    let mut short = wide.clone();
    short.pop();
    let err = ItemType::from_fields("Wide", short).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`Wide` has 4 bytes of padding after its last field `ratio` (offset 60 to 64): add `_pad_end: [u8; 4]` \
         after `ratio`"
    );
    // A u16 before a u64: padding before it.
    let err = ItemType::from_fields("Gap", owned(vec![("a", Schema::Prim(Prim::U16)), ("b", Schema::Prim(Prim::U64))]))
        .unwrap_err();
    assert!(matches!(&err, ItemTypeError::Padding { before: Some(b), offset: 2, bytes: 6, .. } if b == "b"), "{err}");
    assert!(err.to_string().contains("add `_pad_before_b: [u8; 6]` before `b`"), "{err}");
    // Text has no size; an empty field list is no struct.
    assert!(matches!(
        ItemType::from_fields("T", owned(vec![("t", Schema::Prim(Prim::Text))])),
        Err(ItemTypeError::Unsized { .. })
    ));
    assert!(matches!(ItemType::from_fields("E", vec![]), Err(ItemTypeError::BadSchema(_))));
}

/// `DynArray::wait_changed`: zero and short timeouts with nothing written,
/// an index out of range, and a waiter on its own mapping woken by a write
/// of its element through a typed `SharedArray` (and not by a neighbour's).
#[test]
fn dyn_array_wait_changed_wakes_on_its_element_only() {
    use crate::{ArrayError, SharedArray};
    use std::time::Instant;
    let array = DynArray::create(&pose_type(), 3).unwrap();
    let since = array.version(1).unwrap();
    assert_eq!(array.wait_changed(1, since, Duration::ZERO).unwrap(), None);
    let started = Instant::now();
    assert_eq!(array.wait_changed(1, since, Duration::from_millis(30)).unwrap(), None);
    assert!(started.elapsed() >= Duration::from_millis(30), "timed out early");
    let err = array.wait_changed(3, since, Duration::ZERO).unwrap_err();
    assert!(matches!(err, ArrayError::IndexOutOfRange { index: 3, len: 3, .. }), "{err}");

    let peer = DynArray::load(&array.handle(), None, &OpenOptions::new()).unwrap();
    let waiter = std::thread::spawn(move || {
        let seen = peer.wait_changed(1, since, Duration::from_secs(10)).unwrap();
        let mut out = vec![0; 32];
        peer.get(1, &mut out).unwrap();
        (seen, out)
    });
    let typed = SharedArray::<Pose>::load_sharedobject(&array.handle()).unwrap();
    typed.set(0, &pose(5)).unwrap();
    typed.set(2, &pose(6)).unwrap();
    // Long enough for the waiter to be asleep on the futex.
    std::thread::sleep(Duration::from_millis(20));
    assert!(!waiter.is_finished(), "a write of another element woke the waiter");
    typed.set(1, &pose(7)).unwrap();
    let (seen, out) = waiter.join().unwrap();
    assert_eq!(seen, Some(since.wrapping_add(1)));
    assert_eq!(out, bytes_of(&pose(7)));
    assert_eq!(array.version(1), Some(since.wrapping_add(1)));
}
