//! Objects typed at run time (`shm_runtime::dynamic`) against the typed
//! ones, across processes: a `DynRing` of a schema built field by field
//! read by a `MemoryInterface<Pose, Consumer>` in a child and the reverse,
//! `DynShared` and `Shared<Pose>` writing each other's value,
//! `open_as` with another schema naming the field, and segments a hostile
//! peer forged (a schema that no longer hashes to the fingerprint, one
//! whose size disagrees with the slots or the cell).
//!
//! As in `ring_cross_process.rs`, the test binary re-runs itself in a role
//! (`common::spawn_role`); every wait is time-boxed, and every test checks
//! that its segments are gone from /dev/shm at the end.

mod common;

use common::{Kid, WAIT_LIMIT, env, handle_from};
use shm_runtime::dynamic::{DynArray, DynRing, DynShared, ItemType};
use shm_runtime::format::schema::{self, FieldSchema, Prim, Schema, StructSchema};
use shm_runtime::{
    Consumer, Flag, Handle, MemoryInterface, OpenError, OpenOptions, Producer, RingError, Shared, SharedArray,
    SharedObject, SharedState,
};
use std::os::unix::fs::FileExt;
use std::time::Duration;

const VAR_RING: &str = "SHM_TEST_DYN_RING";
const VAR_VALUE: &str = "SHM_TEST_DYN_VALUE";
const VAR_NAME: &str = "SHM_TEST_DYN_NAME";

/// Items streamed through each ring.
const ITEMS: u32 = 20_000;
/// Slots: fewer than the items, so both sides wait for each other.
const SLOTS: usize = 64;

#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Pose {
    position: [f64; 3],
    seq: u32,
    moving: Flag,
    _pad: [u8; 3],
}

fn pose(i: u32) -> Pose {
    let x = f64::from(i);
    Pose { position: [x, -x / 2.0, 0.25], seq: i, moving: Flag::new(i.is_multiple_of(3)), _pad: [0; 3] }
}

/// The bytes of `pose` as the schema lays them out (native byte order).
fn pose_bytes(pose: &Pose) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    for x in pose.position {
        out.extend_from_slice(&x.to_ne_bytes());
    }
    out.extend_from_slice(&pose.seq.to_ne_bytes());
    out.push(u8::from(pose.moving.get()));
    out.extend_from_slice(&[0; 3]); // `_pad`
    out
}

/// `Pose`'s schema written out field by field, as a program in another
/// language declares it; `seq` of type `seq`.
fn pose_schema(seq: Prim) -> Schema {
    let field = |name: &str, offset, ty| FieldSchema { name: name.to_owned(), offset, ty };
    let array = |len, prim| Schema::Array { len, element: Box::new(Schema::Prim(prim)) };
    Schema::Struct(StructSchema {
        name: "Pose".to_owned(),
        size: 32,
        align: 8,
        fields: vec![
            field("position", 0, array(3, Prim::F64)),
            field("seq", 24, Schema::Prim(seq)),
            field("moving", 28, Schema::Prim(Prim::Flag)),
            field("_pad", 29, array(3, Prim::U8)),
        ],
    })
}

fn pose_type() -> ItemType {
    ItemType::new("Pose", pose_schema(Prim::U32)).expect("Pose's schema is valid")
}

/// Asserts the segments named are gone.
fn assert_removed(names: &[&str]) {
    for name in names {
        assert!(!common::exists(name), "segment {name} is still in /dev/shm");
    }
}

#[test]
fn schema_built_field_by_field_is_the_derived_one() {
    let item = pose_type();
    assert_eq!(item.fingerprint(), Pose::FINGERPRINT);
    assert_eq!(item.schema(), &Schema::from_desc(Pose::SCHEMA));
    assert_eq!(pose_bytes(&pose(5)).len(), item.size());
}

/// The parent writes `ITEMS` poses from bytes into a `DynRing` built from
/// the field-by-field schema; a child reads them as
/// `MemoryInterface<Pose, Consumer>` and checks each.
#[test]
fn dyn_ring_to_a_typed_consumer_in_another_process() {
    const TEST: &str = "dyn_ring_to_a_typed_consumer_in_another_process";
    if let Some(role) = common::role() {
        assert_eq!(role, "consumer", "unknown role");
        let mut rx = MemoryInterface::<Pose, Consumer>::load_memorybuf(&handle_from(VAR_RING)).expect("attach");
        for i in 0..ITEMS {
            let got = rx.read_timeout(WAIT_LIMIT).unwrap_or_else(|e| panic!("item {i}: {e}"));
            assert_eq!(got, pose(i), "item {i}");
        }
        let end = rx.read_timeout(WAIT_LIMIT);
        assert!(matches!(end, Err(RingError::Closed { role: "producer", .. })), "{end:?}");
        return;
    }
    let mut tx = DynRing::<Producer>::create(&pose_type(), SLOTS).expect("create");
    let name = tx.name().to_string();
    let kid = Kid::spawn(TEST, "consumer", &[env(VAR_RING, &tx.handle())]);
    for i in 0..ITEMS {
        tx.write_timeout(&pose_bytes(&pose(i)), WAIT_LIMIT).unwrap_or_else(|e| panic!("item {i}: {e}"));
    }
    assert_eq!(tx.written(), u64::from(ITEMS));
    tx.cleanup().expect("cleanup");
    kid.expect_success();
    assert_removed(&[&name]);
}

/// A typed producer in the parent; a child opens the ring by name with the
/// field-by-field type (`open_as`) and reads bytes, and a second child with
/// no type of its own (`open`) is refused the consumer side the first holds.
#[test]
fn typed_producer_to_a_dyn_consumer_in_another_process() {
    const TEST: &str = "typed_producer_to_a_dyn_consumer_in_another_process";
    if let Some(role) = common::role() {
        let name = std::env::var(VAR_NAME).expect("name");
        let mut rx = match role.as_str() {
            "as" => DynRing::<Consumer>::open_as(&name, &pose_type()).expect("attach as Pose"),
            "own" => DynRing::<Consumer>::open(&name).expect("attach with the segment's type"),
            _ => panic!("unknown role {role}"),
        };
        assert_eq!(rx.item_type().fingerprint(), Pose::FINGERPRINT);
        let mut out = vec![0; rx.item_type().size()];
        for i in 0..ITEMS {
            rx.read_timeout(&mut out, WAIT_LIMIT).unwrap_or_else(|e| panic!("item {i}: {e}"));
            assert_eq!(out, pose_bytes(&pose(i)), "item {i}");
        }
        let end = rx.read_timeout(&mut out, WAIT_LIMIT);
        assert!(matches!(end, Err(RingError::Closed { role: "producer", .. })), "{end:?}");
        return;
    }
    for role in ["as", "own"] {
        let name = common::unique_name("dyn-rx");
        let mut tx = MemoryInterface::<Pose>::create_named(&name, SLOTS).expect("create");
        let kid = Kid::spawn(TEST, role, &[(VAR_NAME, name.clone())]);
        for i in 0..ITEMS {
            tx.write_timeout(&pose(i), WAIT_LIMIT).unwrap_or_else(|e| panic!("{role}: item {i}: {e}"));
        }
        tx.cleanup().expect("cleanup");
        kid.expect_success();
        assert_removed(&[&name]);
    }
}

/// `DynShared` in the parent, `Shared<Pose>` in a child, each writing what
/// the other reads (handing turns over through the version), then the
/// other way round.
#[test]
fn dyn_shared_and_shared_across_processes() {
    const TEST: &str = "dyn_shared_and_shared_across_processes";
    const ROUNDS: u32 = 200;
    if let Some(role) = common::role() {
        let handle = handle_from(VAR_VALUE);
        match role.as_str() {
            "typed" => {
                let value = Shared::<Pose>::load_sharedobject(&handle).expect("open typed");
                for i in 0..ROUNDS {
                    // Wait for the parent's even value, answer with the odd one.
                    common::wait_for("the parent's write", None, || (value.read().seq == 2 * i).then_some(()));
                    value.write(&pose(2 * i + 1)).expect("write");
                }
            }
            "dyn" => {
                let value = DynShared::load(&handle, None, &OpenOptions::new()).expect("open dyn");
                assert_eq!(value.item_type().fingerprint(), Pose::FINGERPRINT);
                let mut out = vec![0; 32];
                for i in 0..ROUNDS {
                    common::wait_for("the parent's write", None, || {
                        value.read(&mut out).expect("read");
                        (out == pose_bytes(&pose(2 * i))).then_some(())
                    });
                    value.write(&pose_bytes(&pose(2 * i + 1))).expect("write");
                }
            }
            _ => panic!("unknown role {role}"),
        }
        return;
    }

    // The parent holds a DynShared, the child a Shared<Pose>.
    let value = DynShared::create(&pose_type(), &pose_bytes(&pose(0))).expect("create");
    let name = value.name().to_string();
    let mut kid = Kid::spawn(TEST, "typed", &[env(VAR_VALUE, &value.handle())]);
    let mut out = vec![0; 32];
    for i in 0..ROUNDS {
        common::wait_for("the child's write", Some(&mut kid), || {
            value.read(&mut out).expect("read");
            (out == pose_bytes(&pose(2 * i + 1))).then_some(())
        });
        value.write(&pose_bytes(&pose(2 * i + 2))).expect("write");
    }
    kid.expect_success();
    drop(value);

    // The parent holds a Shared<Pose>, the child a DynShared.
    let typed = Shared::create_sharedobject(&pose(0)).expect("create");
    let name2 = typed.name().to_string();
    let mut kid = Kid::spawn(TEST, "dyn", &[env(VAR_VALUE, &typed.handle())]);
    for i in 0..ROUNDS {
        common::wait_for("the child's write", Some(&mut kid), || (typed.read() == pose(2 * i + 1)).then_some(()));
        typed.write(&pose(2 * i + 2)).expect("write");
    }
    kid.expect_success();
    drop(typed);
    assert_removed(&[&name, &name2]);
}

/// A `DynArray` in the parent, a `SharedArray<Pose>` in a child that
/// updates every element (and the reverse): each side sees the other's
/// writes, element by element.
#[test]
fn dyn_array_and_shared_array_across_processes() {
    const TEST: &str = "dyn_array_and_shared_array_across_processes";
    const LEN: usize = 16;
    if let Some(role) = common::role() {
        let handle = handle_from(VAR_VALUE);
        match role.as_str() {
            "typed" => {
                let array = SharedArray::<Pose>::load_sharedobject(&handle).expect("open typed");
                for (i, p) in array.to_vec().iter().enumerate() {
                    assert_eq!(*p, pose(u32::try_from(i).expect("small")), "element {i}");
                }
                for i in 0..LEN {
                    array.update(i, |p| p.seq += 1000).expect("update");
                }
            }
            "dyn" => {
                let array = DynArray::load(&handle, None, &OpenOptions::new()).expect("open dyn");
                assert_eq!((array.len(), array.item_type().fingerprint()), (LEN, Pose::FINGERPRINT));
                let mut out = vec![0; 32];
                for i in 0..LEN {
                    let n = u32::try_from(i).expect("small");
                    array.get(i, &mut out).expect("get");
                    assert_eq!(out, pose_bytes(&pose(n)), "element {i}");
                    array.set(i, &pose_bytes(&pose(n + 1000))).expect("set");
                }
            }
            _ => panic!("unknown role {role}"),
        }
        return;
    }
    let initial: Vec<u8> = (0..16).flat_map(|i| pose_bytes(&pose(i))).collect();
    let array = DynArray::create_from_bytes(None, &pose_type(), &initial).expect("create");
    Kid::spawn(TEST, "typed", &[env(VAR_VALUE, &array.handle())]).expect_success();
    let mut all = vec![0; LEN * 32];
    array.copy_to(&mut all).expect("copy");
    let seqs: Vec<u32> = all.chunks_exact(32).map(|e| u32::from_ne_bytes(e[24..28].try_into().expect("4"))).collect();
    assert_eq!(seqs, (1000..1016).collect::<Vec<u32>>());
    let name = array.name().to_string();
    drop(array);

    let typed = SharedArray::create_from_slice(&(0..16).map(pose).collect::<Vec<_>>()).expect("create");
    Kid::spawn(TEST, "dyn", &[env(VAR_VALUE, &typed.handle())]).expect_success();
    assert_eq!(typed.to_vec(), (1000..1016).map(pose).collect::<Vec<_>>());
    let name2 = typed.name().to_string();
    drop(typed);
    assert_removed(&[&name, &name2]);
}

/// Waits through `array.wait_changed` until element `index`'s `seq` is
/// `seq`, in slices of 20 ms (shorter than the futex sleep slice, so a
/// lost wake-up shows as a timeout); panics after [`WAIT_LIMIT`] or once `kid`
/// exited without it. Returns the number of waits that ended with a
/// change and of those that timed out.
fn wait_for_seq(array: &DynArray, index: usize, seq: u32, mut kid: Option<&mut Kid>) -> (u32, u32) {
    let start = std::time::Instant::now();
    let mut since = array.version(index).expect("in range");
    let mut out = vec![0; 32];
    let (mut changes, mut timeouts) = (0, 0);
    loop {
        array.get(index, &mut out).expect("get");
        if u32::from_ne_bytes(out[24..28].try_into().expect("4")) == seq {
            return (changes, timeouts);
        }
        if let Some(new) = array.wait_changed(index, since, Duration::from_millis(20)).expect("in range") {
            assert_ne!(new, since, "wait_changed returned the version it was given");
            since = new;
            changes += 1;
            continue;
        }
        timeouts += 1;
        if let Some(status) = kid.as_mut().and_then(|k| k.has_exited()) {
            panic!("the child exited ({status}) while the parent waited for element {index} to be {seq}");
        }
        assert!(start.elapsed() < WAIT_LIMIT, "timed out after {WAIT_LIMIT:?} waiting for element {index}");
    }
}

/// Ping-pong through `DynArray::wait_changed` between two processes: the
/// parent writes element 0 (through a `DynArray`), the child sleeps on it
/// and answers in element 1 (through a `DynArray`, or a `SharedArray<Pose>`
/// in the second run), on which the parent sleeps. Element 2 is never
/// written: a wait on it times out although its neighbours change.
#[test]
fn dyn_array_wait_changed_across_processes() {
    const TEST: &str = "dyn_array_wait_changed_across_processes";
    const ROUNDS: u32 = 200;
    if let Some(role) = common::role() {
        let handle = handle_from(VAR_VALUE);
        let array = DynArray::load(&handle, None, &OpenOptions::new()).expect("open dyn");
        let typed = SharedArray::<Pose>::load_sharedobject(&handle).expect("open typed");
        for round in 1..=ROUNDS {
            wait_for_seq(&array, 0, round, None);
            match role.as_str() {
                "dyn" => array.set(1, &pose_bytes(&pose(round))).expect("set"),
                "typed" => typed.set(1, &pose(round)).expect("set"),
                _ => panic!("unknown role {role}"),
            }
        }
        return;
    }
    for role in ["dyn", "typed"] {
        let array = DynArray::create(&pose_type(), 3).expect("create");
        let quiet = array.version(2).expect("in range");
        let mut kid = Kid::spawn(TEST, role, &[env(VAR_VALUE, &array.handle())]);
        let (mut woken, mut timeouts) = (0, 0);
        for round in 1..=ROUNDS {
            let before = array.version(0).expect("in range");
            array.set(0, &pose_bytes(&pose(round))).expect("set");
            assert_eq!(array.version(0), Some(before.wrapping_add(1)));
            let (changes, slept_out) = wait_for_seq(&array, 1, round, Some(&mut kid));
            woken += changes;
            timeouts += slept_out;
        }
        kid.expect_success();
        // Answers that came before the parent's wait need no wake-up; the
        // others must wake it at once, not after a 20 ms slice (a lost
        // wake-up costs one slice per round).
        eprintln!("{role}: {woken} waits ended by a change, {timeouts} timed out, in {ROUNDS} rounds");
        assert!(woken > 0 && timeouts * 10 <= ROUNDS, "{role}: {woken} changes seen, {timeouts} waits timed out");
        assert_eq!(array.wait_changed(2, quiet, Duration::from_millis(30)).expect("in range"), None, "{role}");
        let err = array.wait_changed(3, 0, Duration::ZERO).unwrap_err();
        assert!(matches!(err, shm_runtime::ArrayError::IndexOutOfRange { index: 3, len: 3, .. }), "{err}");
        let name = array.name().to_string();
        drop(array);
        assert_removed(&[&name]);
    }
}

#[test]
fn open_as_another_schema_names_the_field() {
    let name = common::unique_name("dyn-as");
    let tx = MemoryInterface::<Pose>::create_named(&name, 4).expect("create");
    let signed = ItemType::new("Pose", pose_schema(Prim::I32)).expect("valid");
    let err = DynRing::<Consumer>::open_as(&name, &signed).unwrap_err();
    let OpenError::LayoutMismatch { expected, found, difference: Some(difference), .. } = &err else {
        panic!("expected LayoutMismatch naming a field: {err}");
    };
    assert_eq!((*expected, *found), (signed.fingerprint(), Pose::FINGERPRINT));
    assert_eq!((difference.path.as_str(), difference.expected.as_str()), ("seq", "`i32` at offset 24"), "{err}");
    assert!(err.to_string().contains("field `seq` is `i32` at offset 24 here but `u32` at offset 24"), "{err}");
    drop(tx);

    let value = Shared::<Pose>::create_named(&name, &pose(1)).expect("create");
    let err = DynShared::open_as(&name, &signed).unwrap_err();
    assert!(matches!(&err, OpenError::LayoutMismatch { difference: Some(d), .. } if d.path == "seq"), "{err}");
    let err = DynRing::<Consumer>::open(&name).unwrap_err();
    assert!(matches!(&err, OpenError::KindMismatch { .. }), "a value is no ring: {err}");
    drop(value);
    assert_removed(&[&name]);
}

/// Overwrites bytes of the segment file `name` at `offset`.
fn patch(name: &str, offset: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new().write(true).open(common::shm_path(name)).expect("open the file");
    file.write_all_at(bytes, offset).expect("patch");
}

/// Where the schema of the segment `handle` opens starts.
fn schema_offset(handle: &Handle) -> u64 {
    128 + handle.payload_size().next_multiple_of(8)
}

/// `handle` with another fingerprint (what a forger hands out with a
/// segment whose header it changed).
fn with_fingerprint(handle: &Handle, fingerprint: u64) -> Handle {
    let (kind, size, nonce, name) = (handle.kind(), handle.payload_size(), handle.nonce(), handle.name());
    format!("shm1:{kind}:{fingerprint:016x}:{size}:{nonce:016x}:{name}").parse().expect("a valid handle")
}

/// Replaces the one-byte schema of a segment holding a primitive with
/// `prim`'s, and the header's fingerprint with its hash: a schema that
/// parses and hashes right but says another size. Returns the handle that
/// announces it.
fn forge_prim_schema(handle: &Handle, prim: Prim) -> Handle {
    let name = handle.name().as_str();
    patch(name, schema_offset(handle), &[prim.code()]);
    let forged = schema::fingerprint_of_bytes(&[prim.code()]);
    patch(name, 32, &forged.to_ne_bytes());
    with_fingerprint(handle, forged)
}

#[test]
fn hostile_schemas_are_refused() {
    let quick = OpenOptions::new().wait(Duration::from_millis(100));

    // A schema byte changed: it no longer hashes to the fingerprint.
    let tx = DynRing::<Producer>::create(&pose_type(), 4).expect("create");
    let handle = tx.handle();
    patch(handle.name().as_str(), schema_offset(&handle) + 9, b"X");
    for expected in [None, Some(&pose_type())] {
        let err = DynRing::<Consumer>::load(&handle, expected, &quick).unwrap_err();
        assert!(matches!(&err, OpenError::Corrupt { what, .. } if what.contains("schema")), "{err}");
    }
    let name = tx.name().to_string();
    drop(tx);

    // A ring of u64 whose schema now says u32: the element size and slot
    // words disagree with it.
    let tx = DynRing::<Producer>::create(&ItemType::of::<u64>(), 4).expect("create");
    let forged = forge_prim_schema(&tx.handle(), Prim::U32);
    let err = DynRing::<Consumer>::load(&forged, None, &quick).unwrap_err();
    assert!(matches!(&err, OpenError::Corrupt { what, .. } if what.contains("schema's size")), "{err}");
    let err = DynRing::<Consumer>::load(&forged, Some(&ItemType::of::<u32>()), &quick).unwrap_err();
    assert!(matches!(&err, OpenError::Corrupt { .. }), "{err}");
    let err = MemoryInterface::<u32, Consumer>::load_memorybuf(&forged).unwrap_err();
    assert!(matches!(&err, OpenError::Corrupt { .. }), "the typed ring refuses it too: {err}");
    let name2 = tx.name().to_string();
    drop(tx);

    // A value of u64 whose schema says u16: the cell's size disagrees.
    let value = DynShared::create(&ItemType::of::<u64>(), &[0; 8]).expect("create");
    let forged = forge_prim_schema(&value.handle(), Prim::U16);
    let err = DynShared::load(&forged, None, &quick).unwrap_err();
    assert!(matches!(&err, OpenError::Corrupt { what, .. } if what.contains("size")), "{err}");
    let err = Shared::<u16>::load_sharedobject_with(&forged, &quick).unwrap_err();
    assert!(matches!(&err, OpenError::Corrupt { .. }), "the typed value refuses it too: {err}");
    // Text where an item goes: no size at all.
    let forged = forge_prim_schema(&value.handle(), Prim::Text);
    let err = DynShared::load(&forged, None, &quick).unwrap_err();
    assert!(matches!(&err, OpenError::Corrupt { .. }), "{err}");
    let name3 = value.name().to_string();
    drop(value);
    assert_removed(&[&name, &name2, &name3]);
}
