//! Runtime tests of derived types: the generated constructors and the
//! opt-out from them, per-field access, 128-bit fields, and what changes
//! the layout fingerprint (C1, C2).
//!
//! Every object is dropped by its creator before the test ends, which
//! removes its segment; `create_named` uses a name unique to this process.

use shm_runtime::{Flag, OpenError, Shared, SharedObject, SharedState};

#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Pose {
    position: [f64; 3],
    sequence: u32,
    valid: Flag,
    _reserved: [u8; 3],
}

const POSE: Pose = Pose { position: [1.0, -2.0, 3.5], sequence: 7, valid: Flag::new(true), _reserved: [0; 3] };

#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Pair<T>(T, T);

#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C, align(16))]
struct Frame<const N: usize> {
    poses: [Pose; N],
    count: u64,
    _pad: [u8; 8],
}

#[test]
fn generated_constructors_create_open_and_share_a_value() {
    let shared = Pose::create_sharedobject(&POSE).unwrap();
    let peer = Pose::load_sharedobject(&shared.handle()).unwrap();
    assert_eq!(peer.read(), POSE);
    peer.write(&Pose { sequence: 8, ..POSE }).unwrap();
    assert_eq!(shared.read().sequence, 8);
    let before = shared.update(|pose| core::mem::replace(&mut pose.position[1], 0.5)).unwrap();
    assert_eq!(before.to_bits(), (-2.0_f64).to_bits());
    assert_eq!(peer.read(), Pose { position: [1.0, 0.5, 3.5], sequence: 8, ..POSE });

    let zeroed = Pose::create_zeroed().unwrap();
    assert_eq!(zeroed.read(), Pose { position: [0.0; 3], sequence: 0, valid: Flag::new(false), _reserved: [0; 3] });

    let name = format!("shmrs-derive-pass-{}", std::process::id());
    let named = Pose::create_named(&name, &POSE).unwrap();
    assert_eq!(named.name().as_str(), name);
    assert_eq!(Pose::load_sharedobject(&named.handle()).unwrap().read(), POSE);
}

#[test]
#[expect(deprecated, reason = "the old name of `create_zeroed` keeps working")]
fn the_old_zeroed_constructor_still_works() {
    let zeroed = Pose::create_sharedobject_zeroed().unwrap();
    assert_eq!(zeroed.read(), Pose { position: [0.0; 3], sequence: 0, valid: Flag::new(false), _reserved: [0; 3] });
}

/// A type with a `create_named` of its own: without the opt-out the
/// generated one would collide with it (E0592).
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(constructors = false)]
struct Ledger {
    total: u128,
    delta: i128,
    entries: u64,
    _pad_end: [u8; 8],
}

impl Ledger {
    /// The user's own constructor, unrelated to shared memory.
    fn create_named(entries: u64) -> Self {
        Self { total: u128::MAX - 1, delta: i128::MIN + 1, entries, _pad_end: [0; 8] }
    }

    /// Another of the names the derive would have generated.
    fn load_sharedobject(&self) -> u64 {
        self.entries
    }
}

#[test]
fn opted_out_constructors_are_reached_through_shared() {
    let ledger = Ledger::create_named(3);
    assert_eq!(ledger.load_sharedobject(), 3);

    let shared = Shared::<Ledger>::create_sharedobject(&ledger).unwrap();
    let peer = Shared::<Ledger>::load_sharedobject(&shared.handle()).unwrap();
    assert_eq!(peer.read(), ledger);

    let name = format!("shmrs-derive-pass-ledger-{}", std::process::id());
    let named = Shared::<Ledger>::create_named(&name, &ledger).unwrap();
    assert_eq!(named.name().as_str(), name);

    let zeroed = Shared::<Ledger>::create_zeroed().unwrap();
    assert_eq!(zeroed.read(), Ledger { total: 0, delta: 0, entries: 0, _pad_end: [0; 8] });
}

#[test]
fn u128_and_i128_fields_round_trip_across_a_shared() {
    assert_eq!(core::mem::size_of::<Ledger>(), 48);
    let ledger = Ledger::create_named(1);
    let shared = Shared::<Ledger>::create_sharedobject(&ledger).unwrap();
    let peer = Shared::<Ledger>::load_sharedobject(&shared.handle()).unwrap();
    assert_eq!(peer.read_field(|f| f.total), u128::MAX - 1);
    assert_eq!(peer.read_field(|f| f.delta), i128::MIN + 1);

    // Values whose halves differ, so a swapped or torn half would show.
    let total = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
    peer.write_field(|f| f.total, &total).unwrap();
    peer.write_field(|f| f.delta, &-0x0123_4567_89ab_cdef_0011_2233_4455_6677_i128).unwrap();
    shared.update(|l| l.entries += 1).unwrap();
    assert_eq!(
        shared.read(),
        Ledger { total, delta: -0x0123_4567_89ab_cdef_0011_2233_4455_6677, entries: 2, _pad_end: [0; 8] }
    );

    let whole = Shared::<[u128; 2]>::create_sharedobject(&[u128::MAX, 1]).unwrap();
    whole.update(|w| w.swap(0, 1)).unwrap();
    assert_eq!(Shared::<[u128; 2]>::load_sharedobject(&whole.handle()).unwrap().read(), [1, u128::MAX]);
}

#[test]
fn fields_are_read_and_written_alone() {
    let shared = Pose::create_sharedobject(&POSE).unwrap();
    assert_eq!(shared.read_field(|f| f.sequence), 7);
    assert!(shared.read_field(|f| f.valid).get());
    shared.write_field(|f| f.valid, &Flag::new(false)).unwrap();
    shared.write_field(|f| f.position, &[9.0; 3]).unwrap();
    assert_eq!(shared.read(), Pose { position: [9.0; 3], valid: Flag::new(false), ..POSE });

    let fields = Pose::FIELDS;
    assert_eq!(fields.sequence.offset(), core::mem::offset_of!(Pose, sequence));
    assert_eq!(fields._reserved.offset(), core::mem::offset_of!(Pose, _reserved));
}

#[test]
fn generic_tuple_and_aligned_structs_work() {
    let pair = Pair::<i16>::create_sharedobject(&Pair(-1, 2)).unwrap();
    pair.write_field(|f| f.1, &-3).unwrap();
    assert_eq!(pair.read(), Pair(-1, -3));
    assert_eq!(pair.read_field(|f| f.0), -1);

    assert_eq!(core::mem::align_of::<Frame<2>>(), 16);
    let frame = Frame::<2>::create_sharedobject(&Frame { poses: [POSE; 2], count: 2, _pad: [0; 8] }).unwrap();
    frame.update(|f| f.poses[1].sequence = 99).unwrap();
    assert_eq!(frame.read_field(|f| f.poses)[1].sequence, 99);
    assert_eq!(frame.read_field(|f| f.count), 2);
}

#[test]
fn type_name_is_the_struct_name_as_written() {
    assert_eq!(Pose::TYPE_NAME, "derive_pass::Pose");
    assert_eq!(Pair::<u8>::TYPE_NAME, "derive_pass::Pair");
    assert_eq!(Frame::<1>::TYPE_NAME, "derive_pass::Frame");
}

/// Variants of one `Sample` layout, each in its own module so they share
/// the struct name; each differs from `base` in one respect.
mod layouts {
    #![allow(dead_code, reason = "only the layouts matter")]
    use super::Inner;
    use shm_runtime::{Flag, SharedState};

    macro_rules! variant {
        ($module:ident: $($field:tt)*) => {
            pub mod $module {
                #[derive(shm_runtime::SharedState, Clone, Copy)]
                #[repr(C)]
                pub struct Sample { $($field)* }
            }
        };
    }

    variant!(base: a: u32, b: u32, c: [u8; 8]);
    variant!(swapped: b: u32, a: u32, c: [u8; 8]);
    variant!(renamed: a: u32, bb: u32, c: [u8; 8]);
    variant!(resigned: a: u32, b: i32, c: [u8; 8]);
    variant!(float: a: u32, b: f32, c: [u8; 8]);
    variant!(regrouped: a: u32, b: u32, c: [u16; 4]);
    variant!(shorter: a: u32, b: u32, c: [u8; 4]);
    variant!(wider: a: u64, b: u32, c: [u8; 4]);
    variant!(flagged: a: u32, b: u32, c: [super::Flag; 8]);
    variant!(nested: a: u32, b: u32, c: super::Inner);
    variant!(wide: a: u32, b: u32, c: [u8; 8], d: u128);
    variant!(wide_signed: a: u32, b: u32, c: [u8; 8], d: i128);

    /// `base` again in another module, with other visibility and docs.
    pub mod same {
        /// Docs do not count.
        #[derive(shm_runtime::SharedState, Clone, Copy)]
        #[repr(C)]
        pub struct Sample {
            /// Neither does visibility.
            pub a: u32,
            pub(crate) b: u32,
            c: [u8; 8],
        }
    }

    /// `base` under another name.
    #[derive(SharedState, Clone, Copy)]
    #[repr(C)]
    pub struct Other {
        a: u32,
        b: u32,
        c: [u8; 8],
    }

    /// `base` aligned to 16 (and padded explicitly to 16 bytes).
    #[derive(SharedState, Clone, Copy)]
    #[repr(C, align(16))]
    pub struct Sample {
        a: u32,
        b: u32,
        c: [u8; 8],
    }
}

/// An 8-byte struct to nest in place of `[u8; 8]`.
#[derive(SharedState, Clone, Copy)]
#[repr(C)]
struct Inner {
    x: [u8; 8],
}

#[test]
fn c1_every_layout_change_changes_the_fingerprint() {
    use layouts::{
        Other, Sample, base, flagged, float, nested, regrouped, renamed, resigned, same, shorter, swapped, wide,
        wide_signed, wider,
    };
    let all = [
        ("base", base::Sample::FINGERPRINT),
        ("swapped", swapped::Sample::FINGERPRINT),
        ("renamed", renamed::Sample::FINGERPRINT),
        ("resigned", resigned::Sample::FINGERPRINT),
        ("float", float::Sample::FINGERPRINT),
        ("regrouped", regrouped::Sample::FINGERPRINT),
        ("shorter", shorter::Sample::FINGERPRINT),
        ("wider", wider::Sample::FINGERPRINT),
        ("flagged", flagged::Sample::FINGERPRINT),
        ("nested", nested::Sample::FINGERPRINT),
        ("u128", wide::Sample::FINGERPRINT),
        ("i128", wide_signed::Sample::FINGERPRINT),
        ("struct renamed", Other::FINGERPRINT),
        ("aligned", Sample::FINGERPRINT),
        ("generic u32", Pair::<u32>::FINGERPRINT),
        ("generic i32", Pair::<i32>::FINGERPRINT),
    ];
    for (i, (name_a, a)) in all.iter().enumerate() {
        for (name_b, b) in &all[i + 1..] {
            assert_ne!(a, b, "{name_a} and {name_b} have the same fingerprint");
        }
    }
    assert_eq!(same::Sample::FINGERPRINT, base::Sample::FINGERPRINT, "module, docs and visibility do not count");
    assert_ne!(Frame::<3>::FINGERPRINT, Frame::<2>::FINGERPRINT);
}

#[test]
fn c2_opening_as_another_struct_is_a_layout_mismatch() {
    use layouts::{base, swapped};
    assert_eq!(core::mem::size_of::<base::Sample>(), core::mem::size_of::<swapped::Sample>());
    let shared = base::Sample::create_zeroed().unwrap();
    let err = swapped::Sample::load_sharedobject(&shared.handle()).unwrap_err();
    assert!(
        matches!(&err, OpenError::LayoutMismatch { expected, found, expected_type, found_type, .. }
            if *expected == swapped::Sample::FINGERPRINT && *found == base::Sample::FINGERPRINT
                && *expected_type == swapped::Sample::TYPE_NAME
                && found_type.as_deref() == Some(base::Sample::TYPE_NAME)),
        "{err:?}"
    );
    // The message names both types, with their modules.
    let text = err.to_string();
    assert!(text.contains("`derive_pass::layouts::swapped::Sample`"), "{text}");
    assert!(text.contains("`derive_pass::layouts::base::Sample`"), "{text}");
    let err = Shared::<[u32; 4]>::load_sharedobject(&shared.handle()).unwrap_err();
    assert!(
        matches!(&err, OpenError::LayoutMismatch { expected_type: "array", found_type: Some(found), .. }
            if found == base::Sample::TYPE_NAME),
        "{err:?}"
    );
}
