//! Runtime tests of derived types: the generated constructors, per-field
//! access, and what changes the layout fingerprint (C1, C2).
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

    let zeroed = Pose::create_sharedobject_zeroed().unwrap();
    assert_eq!(zeroed.read(), Pose { position: [0.0; 3], sequence: 0, valid: Flag::new(false), _reserved: [0; 3] });

    let name = format!("shmrs-derive-pass-{}", std::process::id());
    let named = Pose::create_named(&name, &POSE).unwrap();
    assert_eq!(named.name().as_str(), name);
    assert_eq!(Pose::load_sharedobject(&named.handle()).unwrap().read(), POSE);
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
        Other, Sample, base, flagged, float, nested, regrouped, renamed, resigned, same, shorter, swapped, wider,
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
    let shared = base::Sample::create_sharedobject_zeroed().unwrap();
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
