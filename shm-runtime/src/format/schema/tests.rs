use super::*;
use proptest::prelude::*;

const POINT_FIELDS: &[FieldDesc] = &[
    FieldDesc { name: "x", offset: 0, ty: &TypeDesc::Prim(Prim::F32) },
    FieldDesc { name: "y", offset: 4, ty: &TypeDesc::Prim(Prim::F32) },
];
/// `struct Point { x: f32, y: f32 }`.
const POINT: &TypeDesc = &TypeDesc::Struct(&StructDesc { name: "Point", size: 8, align: 4, fields: POINT_FIELDS });

/// `struct Pose { position: [f64; 3], seq: u32, moving: Flag, _pad: [u8; 3] }`.
const POSE: &TypeDesc = &TypeDesc::Struct(&StructDesc {
    name: "Pose",
    size: 32,
    align: 8,
    fields: &[
        FieldDesc { name: "position", offset: 0, ty: &TypeDesc::Array { len: 3, element: &TypeDesc::Prim(Prim::F64) } },
        FieldDesc { name: "seq", offset: 24, ty: &TypeDesc::Prim(Prim::U32) },
        FieldDesc { name: "moving", offset: 28, ty: &TypeDesc::Prim(Prim::Flag) },
        FieldDesc { name: "_pad", offset: 29, ty: &TypeDesc::Array { len: 3, element: &TypeDesc::Prim(Prim::U8) } },
    ],
});

/// `struct Path { points: [Point; 2], id: u64 }`: nesting.
const PATH: &TypeDesc = &TypeDesc::Struct(&StructDesc {
    name: "Path",
    size: 24,
    align: 8,
    fields: &[
        FieldDesc { name: "points", offset: 0, ty: &TypeDesc::Array { len: 2, element: POINT } },
        FieldDesc { name: "id", offset: 16, ty: &TypeDesc::Prim(Prim::U64) },
    ],
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// The worked example and the test vectors of `FORMAT.md` ("Schema"):
/// change one and the other must change with it.
#[test]
fn format_md_test_vectors() {
    let point = Schema::from_desc(POINT).encode();
    assert_eq!(
        hex(&point),
        "50 05 00 00 00 00 00 00 00 50 6f 69 6e 74 08 00 00 00 00 00 00 00 04 00 00 00 00 00 00 00 \
         02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 78 00 00 00 00 00 00 00 00 23 \
         01 00 00 00 00 00 00 00 79 04 00 00 00 00 00 00 00 23"
    );
    // Computed with an independent implementation of the recipe (a few
    // lines of Python with `struct.pack('<Q', n)`), as another language
    // would.
    let vectors: [(&TypeDesc, u64, usize); 10] = [
        (&TypeDesc::Prim(Prim::U8), 0xaf63_bc4c_8601_b62c, 1),
        (builtin::INT, 0xaf63_c94c_8601_cc43, 1),
        (&TypeDesc::Prim(Prim::F64), 0xaf63_994c_8601_7ab3, 1),
        (builtin::BOOL, 0xaf63_ad4c_8601_9caf, 1),
        (builtin::STRING, 0xaf63_ac4c_8601_9afc, 1),
        (builtin::BYTES, 0xaf63_af4c_8601_a015, 1),
        (&TypeDesc::Array { len: 3, element: &TypeDesc::Prim(Prim::F64) }, 0xd8dc_6494_372e_cf28, 10),
        (POINT, 0x57d7_2bd9_67e8_3dd7, 74),
        (POSE, 0xfd1a_85f4_6af4_54b8, 144),
        (PATH, 0xe03a_e4ee_b80f_5122, 161),
    ];
    for (desc, expected, len) in vectors {
        let schema = Schema::from_desc(desc);
        let bytes = schema.encode();
        assert_eq!(bytes.len(), len, "{schema}");
        assert_eq!(encoded_len(desc), len, "{schema}");
        assert_eq!(fingerprint(desc), expected, "{schema}: {:#018x}", fingerprint(desc));
        assert_eq!(schema.fingerprint(), expected, "{schema}");
        assert_eq!(Schema::parse(&bytes).as_ref(), Ok(&schema));
    }
}

/// Every accepted field kind at every nesting depth: encode, parse, and
/// the const fingerprint agrees with the hash of the bytes.
#[test]
fn round_trip_of_every_kind_and_depth() {
    for prim in Prim::ALL {
        let schema = Schema::Prim(prim);
        assert_eq!(Schema::parse(&schema.encode()), Ok(schema));
    }
    let mut ty = Schema::Prim(Prim::I16);
    for depth in 2..=MAX_DEPTH {
        ty = if depth % 2 == 0 {
            Schema::Array { len: 2, element: Box::new(ty) }
        } else {
            let size = ty.size().unwrap();
            let field = |name: &str, offset, ty| FieldSchema { name: name.to_owned(), offset, ty };
            let fields = vec![field("a", 0, ty.clone()), field("b", size, Schema::Prim(Prim::U8))];
            let (size, align) = (size + 1, 1);
            Schema::Struct(StructSchema { name: format!("S{depth}"), size, align, fields })
        };
        let bytes = ty.encode();
        assert_eq!(Schema::parse(&bytes).as_ref(), Ok(&ty), "depth {depth}");
    }
    let deeper = Schema::Array { len: 1, element: Box::new(ty) };
    assert!(matches!(Schema::parse(&deeper.encode()), Err(SchemaError::TooDeep { .. })));
}

#[test]
fn const_and_owned_agree() {
    for desc in [POINT, POSE, PATH, builtin::INT, &TypeDesc::Array { len: 7, element: PATH }] {
        let schema = Schema::from_desc(desc);
        assert_eq!(fingerprint(desc), schema.fingerprint());
        assert_eq!(encoded_len(desc), schema.encode().len());
    }
}

/// Hostile schemas: each limit and each layout rule is enforced, with an
/// error that says where.
#[test]
fn hostile_schemas_are_refused() {
    let pose = Schema::from_desc(POSE).encode();
    let parse = |bytes: &[u8]| Schema::parse(bytes).unwrap_err();
    assert!(matches!(parse(&[]), SchemaError::Truncated { at: 0 }));
    assert!(matches!(parse(&pose[..pose.len() - 1]), SchemaError::Truncated { .. }));
    assert!(matches!(parse(&[&pose[..], &[0][..]].concat()), SchemaError::TrailingBytes { at: 144 }));
    assert!(matches!(parse(&[0x00]), SchemaError::UnknownTag { tag: 0, at: 0 }));
    assert!(matches!(parse(&vec![0; MAX_SCHEMA_SIZE + 1]), SchemaError::TooLong { .. }));
    // An array of length 0, or of a length whose size overflows.
    let array = |len: u64, element: u8| [&[TAG_ARRAY][..], &len.to_le_bytes(), &[element]].concat();
    assert!(matches!(parse(&array(0, 1)), SchemaError::BadLayout { .. }));
    assert!(matches!(parse(&array(u64::MAX, Prim::U16.code())), SchemaError::BadLayout { .. }));
    assert!(matches!(parse(&array(2, Prim::Text.code())), SchemaError::BadLayout { .. }));
    // A struct: patch one word of the POSE encoding at a time.
    let patched = |at: usize, value: u64| {
        let mut bytes = pose.clone();
        bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
        Schema::parse(&bytes).unwrap_err()
    };
    // name length (at 1), size (13), align (21), count (29), first field
    // name length (37), its offset (53).
    assert!(matches!(patched(1, 0), SchemaError::BadName { at: 1 }));
    assert!(matches!(patched(1, 256), SchemaError::BadName { .. }));
    assert!(matches!(patched(1, u64::MAX), SchemaError::BadName { .. }));
    assert!(matches!(patched(13, 40), SchemaError::BadLayout { what: "fields do not end at the struct's size", .. }));
    assert!(matches!(patched(13, 33), SchemaError::BadLayout { .. }));
    assert!(matches!(patched(21, 3), SchemaError::BadLayout { .. }));
    assert!(matches!(patched(21, 128), SchemaError::BadLayout { .. }));
    assert!(matches!(patched(29, 0), SchemaError::FieldCount { count: 0, .. }));
    assert!(matches!(patched(29, 1025), SchemaError::FieldCount { count: 1025, .. }));
    assert!(matches!(patched(29, 5), SchemaError::Truncated { .. }));
    assert!(matches!(patched(53, 8), SchemaError::BadLayout { .. }));
    // Not UTF-8, and a repeated field name.
    let mut bad_utf8 = pose.clone();
    bad_utf8[9] = 0xff;
    assert!(matches!(parse(&bad_utf8), SchemaError::BadName { at: 1 }));
    let twice = Schema::from_desc(POINT).encode();
    let mut twice = twice.clone();
    let y = twice.iter().rposition(|b| *b == b'y').unwrap();
    twice[y] = b'x';
    assert!(matches!(parse(&twice), SchemaError::BadName { .. }));
    assert!(parse(&twice).to_string().contains("repeated"));
}

#[test]
fn differences_name_the_field() {
    let ours = Schema::from_desc(POSE);
    let mut theirs = ours.clone();
    let Schema::Struct(s) = &mut theirs else { unreachable!() };
    s.fields[1].ty = Schema::Prim(Prim::I32);
    let d = ours.difference(&theirs).unwrap();
    assert_eq!(d.to_string(), "field `seq` is `u32` at offset 24 here but `i32` at offset 24 in the segment");
    let Schema::Struct(s) = &mut theirs else { unreachable!() };
    s.fields[1].ty = Schema::Prim(Prim::U32);
    s.fields[1].name = "sequence".into();
    let d = ours.difference(&theirs).unwrap();
    assert_eq!(d.path, "seq");
    assert!(d.found.contains("`sequence`"), "{d}");
    // Nested: the path goes through arrays and structs.
    let path = Schema::from_desc(PATH);
    let mut other = path.clone();
    let Schema::Struct(s) = &mut other else { unreachable!() };
    let Schema::Array { element, .. } = &mut s.fields[0].ty else { unreachable!() };
    let Schema::Struct(point) = element.as_mut() else { unreachable!() };
    point.fields[1].name = "z".into();
    assert_eq!(path.difference(&other).unwrap().path, "points[].y");
    // A field more in the segment; a size that differs.
    let mut shorter = path.clone();
    let Schema::Struct(s) = &mut shorter else { unreachable!() };
    s.fields.pop();
    assert_eq!(
        path.difference(&shorter).unwrap().to_string(),
        "field `id` is `u64` at offset 16 here but missing in the segment"
    );
    assert_eq!(path.difference(&path), None);
    let array = |len| Schema::Array { len, element: Box::new(Schema::Prim(Prim::U8)) };
    assert_eq!(
        array(3).difference(&array(4)).unwrap().to_string(),
        "the type is `[u8; 3]` here but `[u8; 4]` in the segment"
    );
}

proptest! {
    /// Any bytes: a schema or an error, never a panic; an accepted schema
    /// is canonical.
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(schema) = Schema::parse(&bytes) {
            prop_assert_eq!(schema.encode(), bytes);
        }
    }
}
