//! `Value::encode`: round trips for every field kind, nested structs and
//! arrays, and each `EncodeError`.

use super::*;
use crate::format::schema::FieldSchema;

fn prim(p: Prim) -> Schema {
    Schema::Prim(p)
}

fn array(len: u64, element: Schema) -> Schema {
    Schema::Array { len, element: Box::new(element) }
}

fn field(name: &str, offset: u64, ty: Schema) -> FieldSchema {
    FieldSchema { name: name.to_owned(), offset, ty }
}

fn strukt(name: &str, size: u64, align: u64, fields: Vec<FieldSchema>) -> Schema {
    Schema::Struct(StructSchema { name: name.to_owned(), size, align, fields })
}

fn value(name: &str, fields: Vec<(&str, Value)>) -> Value {
    Value::Struct { name: name.to_owned(), fields: fields.into_iter().map(|(n, v)| (n.to_owned(), v)).collect() }
}

fn items(items: Vec<Value>) -> Value {
    Value::Array { items, more: 0 }
}

/// Encodes, checks the bytes against `bytes` and decodes them back.
fn round_trip(schema: &Schema, v: &Value, bytes: &[u8]) {
    let encoded = v.encode(schema).unwrap_or_else(|e| panic!("{schema}: {e}"));
    assert_eq!(encoded, bytes, "{schema}: {v}");
    assert_eq!(Value::decode(schema, &encoded).as_ref(), Ok(v), "{schema}");
}

#[test]
fn every_primitive_round_trips_at_its_limits() {
    let ne = |b: &[u8]| b.to_vec();
    let cases: Vec<(Prim, Value, Vec<u8>)> = vec![
        (Prim::U8, Value::Unsigned(255), vec![255]),
        (Prim::U16, Value::Unsigned(65_535), ne(&u16::MAX.to_ne_bytes())),
        (Prim::U32, Value::Unsigned(u32::MAX.into()), ne(&u32::MAX.to_ne_bytes())),
        (Prim::U64, Value::Unsigned(u64::MAX.into()), ne(&u64::MAX.to_ne_bytes())),
        (Prim::U128, Value::Unsigned(u128::MAX), ne(&u128::MAX.to_ne_bytes())),
        (Prim::I8, Value::Signed(-128), ne(&i8::MIN.to_ne_bytes())),
        (Prim::I16, Value::Signed(i16::MIN.into()), ne(&i16::MIN.to_ne_bytes())),
        (Prim::I32, Value::Signed(i32::MIN.into()), ne(&i32::MIN.to_ne_bytes())),
        (Prim::I64, Value::Signed(i64::MIN.into()), ne(&i64::MIN.to_ne_bytes())),
        (Prim::I128, Value::Signed(i128::MIN), ne(&i128::MIN.to_ne_bytes())),
        (Prim::F32, Value::Float(-1.25), ne(&(-1.25f32).to_ne_bytes())),
        (Prim::F64, Value::Float(f64::MAX), ne(&f64::MAX.to_ne_bytes())),
        (Prim::Flag, Value::Flag(true), vec![1]),
        (Prim::Flag, Value::Flag(false), vec![0]),
        (Prim::Text, Value::Text("h\u{e9}".into()), "h\u{e9}".as_bytes().to_vec()),
        (Prim::Bytes, Value::Bytes(vec![0, 0xff]), vec![0, 0xff]),
    ];
    for (p, v, bytes) in cases {
        round_trip(&prim(p), &v, &bytes);
    }
    // An integer of the other sign where it fits; an integer for a float.
    assert_eq!(Value::Signed(7).encode(&prim(Prim::U8)), Ok(vec![7]));
    assert_eq!(Value::Unsigned(7).encode(&prim(Prim::I64)), Ok(7i64.to_ne_bytes().to_vec()));
    assert_eq!(Value::Unsigned(3).encode(&prim(Prim::F32)), Ok(3f32.to_ne_bytes().to_vec()));
    assert_eq!(Value::Signed(-(1 << 53)).encode(&prim(Prim::F64)), Ok((-(2f64.powi(53))).to_ne_bytes().to_vec()));
    // Text where bytes go, and bytes that are UTF-8 where text goes.
    assert_eq!(Value::Text("ab".into()).encode(&prim(Prim::Bytes)), Ok(b"ab".to_vec()));
    assert_eq!(Value::Bytes(b"ab".to_vec()).encode(&prim(Prim::Text)), Ok(b"ab".to_vec()));
}

#[test]
fn nested_structs_and_arrays_round_trip_with_padding_zero() {
    let point = strukt("Point", 8, 4, vec![field("x", 0, prim(Prim::F32)), field("y", 4, prim(Prim::I32))]);
    let path = strukt(
        "Path",
        32,
        8,
        vec![
            field("id", 0, prim(Prim::U16)),
            field("moving", 2, prim(Prim::Flag)),
            field("_pad", 3, array(5, prim(Prim::U8))),
            field("points", 8, array(2, point)),
            field("grid", 24, array(2, array(2, prim(Prim::I16)))),
        ],
    );
    let pt = |x: f64, y: i128| value("Point", vec![("x", Value::Float(x)), ("y", Value::Signed(y))]);
    let full = value(
        "Path",
        vec![
            ("id", Value::Unsigned(513)),
            ("moving", Value::Flag(true)),
            ("_pad", items(vec![Value::Unsigned(0); 5])),
            ("points", items(vec![pt(1.5, -1), pt(-0.5, 7)])),
            (
                "grid",
                items(vec![
                    items(vec![Value::Signed(1), Value::Signed(-2)]),
                    items(vec![Value::Signed(3), Value::Signed(-4)]),
                ]),
            ),
        ],
    );
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&513u16.to_ne_bytes());
    bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0]);
    for (x, y) in [(1.5f32, -1i32), (-0.5, 7)] {
        bytes.extend_from_slice(&x.to_ne_bytes());
        bytes.extend_from_slice(&y.to_ne_bytes());
    }
    for n in [1i16, -2, 3, -4] {
        bytes.extend_from_slice(&n.to_ne_bytes());
    }
    round_trip(&path, &full, &bytes);

    // Padding left out is zeros; fields in another order are matched by name.
    let Value::Struct { name, mut fields } = full else { unreachable!() };
    fields.retain(|(n, _)| n != "_pad");
    fields.reverse();
    assert_eq!(Value::Struct { name, fields }.encode(&path), Ok(bytes));
}

#[test]
fn text_goes_into_a_byte_array_zero_padded() {
    let schema = strukt("Named", 8, 1, vec![field("name", 0, array(8, prim(Prim::U8)))]);
    let named = value("Named", vec![("name", Value::Text("abc".into()))]);
    assert_eq!(named.encode(&schema), Ok(b"abc\0\0\0\0\0".to_vec()));
    let long = value("Named", vec![("name", Value::Bytes(vec![1; 9]))]);
    let err = long.encode(&schema).unwrap_err();
    assert_eq!(err, EncodeError::TextTooLong { path: "name".into(), len: 9, max: 8 });
    assert_eq!(err.to_string(), "field `name`: 9 bytes do not fit in 8");
}

#[test]
fn each_error_names_the_field() {
    let inner = strukt("Inner", 4, 4, vec![field("seq", 0, prim(Prim::U32))]);
    let schema = strukt(
        "Outer",
        16,
        4,
        vec![
            field("inner", 0, inner),
            field("values", 4, array(2, prim(Prim::I16))),
            field("ratio", 8, prim(Prim::F32)),
            field("on", 12, prim(Prim::Flag)),
            field("_pad", 13, array(3, prim(Prim::U8))),
        ],
    );
    let good = || {
        vec![
            ("inner", value("Inner", vec![("seq", Value::Unsigned(1))])),
            ("values", items(vec![Value::Signed(1), Value::Signed(2)])),
            ("ratio", Value::Float(0.5)),
            ("on", Value::Flag(false)),
        ]
    };
    assert!(value("Outer", good()).encode(&schema).is_ok());
    let with = |name: &str, v: Value| {
        let mut fields = good();
        fields.retain(|(n, _)| *n != name);
        fields.push((Box::leak(name.to_owned().into_boxed_str()), v));
        value("Outer", fields).encode(&schema).unwrap_err()
    };

    let err = with("inner", value("Inner", vec![]));
    assert_eq!(err, EncodeError::MissingField { path: "inner.seq".into() });
    assert_eq!(err.to_string(), "field `inner.seq`: missing");
    let mut fields = good();
    fields.retain(|(n, _)| *n != "ratio");
    assert_eq!(value("Outer", fields).encode(&schema), Err(EncodeError::MissingField { path: "ratio".into() }));

    let err = with("inner", value("Inner", vec![("seq", Value::Unsigned(1)), ("extra", Value::Unsigned(2))]));
    assert_eq!(err, EncodeError::UnknownField { path: "inner.extra".into() });

    let err = with("inner", value("Inner", vec![("seq", Value::Signed(-1))]));
    assert_eq!(err, EncodeError::OutOfRange { path: "inner.seq".into(), ty: "u32", value: "-1".into() });
    let err = with("values", items(vec![Value::Signed(1), Value::Unsigned(40_000)]));
    assert_eq!(err.to_string(), "field `values[1]`: 40000 is out of range for `i16`");
    let err = with("ratio", Value::Unsigned((1 << 24) + 1));
    assert_eq!(err, EncodeError::OutOfRange { path: "ratio".into(), ty: "f32", value: "16777217".into() });

    let err = with("values", items(vec![Value::Signed(1)]));
    assert_eq!(err, EncodeError::ArrayLength { path: "values".into(), expected: 2, found: 1 });
    assert_eq!(err.to_string(), "field `values`: the array has 2 items, the value 1");

    let err = with("on", Value::Unsigned(1));
    assert_eq!(
        err,
        EncodeError::WrongKind { path: "on".into(), expected: "Flag".into(), found: "an unsigned integer" }
    );
    let err = with("values", Value::Text("no".into()));
    assert_eq!(err.to_string(), "field `values`: expected `[i16; 2]`, found text");
    let err = with("inner", Value::Float(1.0));
    assert!(matches!(&err, EncodeError::WrongKind { path, found: "a float", .. } if path == "inner"), "{err}");
    let err = with("ratio", Value::Flag(true));
    assert!(matches!(&err, EncodeError::WrongKind { path, .. } if path == "ratio"), "{err}");
    let err = Value::Unsigned(1).encode(&schema).unwrap_err();
    assert_eq!(err.to_string(), "the value: expected `Outer`, found an unsigned integer");
    let err = Value::Unsigned(1).encode(&prim(Prim::Text)).unwrap_err();
    assert!(matches!(err, EncodeError::WrongKind { .. }), "{err}");
    let err = Value::Bytes(vec![0xff]).encode(&prim(Prim::Text)).unwrap_err();
    assert!(matches!(err, EncodeError::WrongKind { found: "bytes", .. }), "{err}");
    let err = Value::Signed(1 << 40).encode(&prim(Prim::I32)).unwrap_err();
    assert_eq!(err.path(), "");

    // Integer limits where a float cast would saturate.
    assert!(Value::Signed(i128::MAX).encode(&prim(Prim::F64)).is_err());
    assert!(Value::Unsigned(u128::MAX).encode(&prim(Prim::F64)).is_err());
    assert!(Value::Signed(i128::MIN).encode(&prim(Prim::F64)).is_ok(), "-2^127 is a float exactly");
}

#[test]
fn a_schema_that_cannot_hold_a_value_is_an_error_not_a_panic() {
    let overlapping = strukt("O", 4, 4, vec![field("a", 0, prim(Prim::U32)), field("b", 2, prim(Prim::U16))]);
    let v = value("O", vec![("a", Value::Unsigned(1)), ("b", Value::Unsigned(2))]);
    assert!(matches!(v.encode(&overlapping), Err(EncodeError::BadSchema { path, .. }) if path == "b"));
    let short = strukt("S", 2, 2, vec![field("a", 0, prim(Prim::U32))]);
    let v = value("S", vec![("a", Value::Unsigned(1))]);
    assert!(matches!(v.encode(&short), Err(EncodeError::BadSchema { .. })));
    let text_field = strukt("T", 8, 8, vec![field("t", 0, prim(Prim::Text))]);
    let v = value("T", vec![("t", Value::Text("x".into()))]);
    assert!(matches!(v.encode(&text_field), Err(EncodeError::BadSchema { path, .. }) if path == "t"));
}

mod round_trip_property {
    use super::*;
    use proptest::prelude::*;

    /// Every sized primitive.
    const PRIMS: [Prim; 13] = [
        Prim::U8,
        Prim::U16,
        Prim::U32,
        Prim::U64,
        Prim::U128,
        Prim::I8,
        Prim::I16,
        Prim::I32,
        Prim::I64,
        Prim::I128,
        Prim::F32,
        Prim::F64,
        Prim::Flag,
    ];

    /// Schemas up to three deep: primitives, arrays of 1 to 3, structs of
    /// 1 to 4 fields laid end to end (alignment 1, so they tile).
    fn schema() -> impl Strategy<Value = Schema> {
        let leaf = proptest::sample::select(PRIMS.to_vec()).prop_map(Schema::Prim);
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                (1u64..4, inner.clone()).prop_map(|(len, element)| array(len, element)),
                proptest::collection::vec(inner, 1..5).prop_map(|types| {
                    let mut offset = 0;
                    let fields = types
                        .into_iter()
                        .enumerate()
                        .map(|(i, ty)| {
                            let f = field(&format!("f{i}"), offset, ty);
                            offset += f.ty.size().expect("sized");
                            f
                        })
                        .collect();
                    strukt("S", offset, 1, fields)
                }),
            ]
        })
    }

    /// A value of `schema`, as `decode` would give it.
    fn value_of(schema: &Schema) -> BoxedStrategy<Value> {
        match schema {
            Schema::Prim(p) => prim_value(*p),
            Schema::Array { len, element } => {
                let n = usize::try_from(*len).expect("small");
                proptest::collection::vec(value_of(element), n..=n).prop_map(items).boxed()
            }
            Schema::Struct(s) => {
                let name = s.name.clone();
                let names: Vec<String> = s.fields.iter().map(|f| f.name.clone()).collect();
                let parts: Vec<BoxedStrategy<Value>> = s.fields.iter().map(|f| value_of(&f.ty)).collect();
                parts
                    .prop_map(move |values| Value::Struct {
                        name: name.clone(),
                        fields: names.iter().cloned().zip(values).collect(),
                    })
                    .boxed()
            }
        }
    }

    fn prim_value(p: Prim) -> BoxedStrategy<Value> {
        match p {
            Prim::U8 => any::<u8>().prop_map(|n| Value::Unsigned(n.into())).boxed(),
            Prim::U16 => any::<u16>().prop_map(|n| Value::Unsigned(n.into())).boxed(),
            Prim::U32 => any::<u32>().prop_map(|n| Value::Unsigned(n.into())).boxed(),
            Prim::U64 => any::<u64>().prop_map(|n| Value::Unsigned(n.into())).boxed(),
            Prim::U128 => any::<u128>().prop_map(Value::Unsigned).boxed(),
            Prim::I8 => any::<i8>().prop_map(|n| Value::Signed(n.into())).boxed(),
            Prim::I16 => any::<i16>().prop_map(|n| Value::Signed(n.into())).boxed(),
            Prim::I32 => any::<i32>().prop_map(|n| Value::Signed(n.into())).boxed(),
            Prim::I64 => any::<i64>().prop_map(|n| Value::Signed(n.into())).boxed(),
            Prim::I128 => any::<i128>().prop_map(Value::Signed).boxed(),
            // NaN is not equal to itself: ordinary floats only.
            Prim::F32 => {
                any::<f32>().prop_filter("not NaN", |x| !x.is_nan()).prop_map(|x| Value::Float(x.into())).boxed()
            }
            Prim::F64 => any::<f64>().prop_filter("not NaN", |x| !x.is_nan()).prop_map(Value::Float).boxed(),
            Prim::Flag => any::<bool>().prop_map(Value::Flag).boxed(),
            Prim::Text | Prim::Bytes => unreachable!("not generated"),
        }
    }

    /// Whether decoding and encoding may change bytes of `schema`: a flag
    /// (any nonzero byte is `true`, written as 1) or an `f32` (a signaling
    /// NaN may come back quiet). Every other type comes back bit for bit.
    fn normalizes(schema: &Schema) -> bool {
        match schema {
            Schema::Prim(p) => matches!(p, Prim::Flag | Prim::F32),
            Schema::Array { element, .. } => normalizes(element),
            Schema::Struct(s) => s.fields.iter().any(|f| normalizes(&f.ty)),
        }
    }

    proptest! {
        #[test]
        fn decode_of_encode_gives_the_value_back(
            (schema, value) in schema().prop_flat_map(|s| { let v = value_of(&s); (Just(s), v) })
        ) {
            let bytes = value.encode(&schema).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Some(bytes.len() as u64), schema.size());
            prop_assert_eq!(Value::decode(&schema, &bytes), Ok(value));
        }

        #[test]
        fn encode_of_decode_gives_the_bytes_back(
            (schema, bytes) in schema().prop_flat_map(|s| {
                let n = usize::try_from(s.size().expect("sized")).expect("small");
                (Just(s), proptest::collection::vec(any::<u8>(), n..=n))
            })
        ) {
            let value = Value::decode(&schema, &bytes).expect("sized bytes decode");
            let again = value.encode(&schema).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Flags come back as 0 or 1; NaNs as some NaN; everything else exactly.
            let normal = Value::decode(&schema, &again).expect("decodes");
            prop_assert_eq!(normal.encode(&schema), Ok(again.clone()));
            prop_assert_eq!(again.len(), bytes.len());
            if !normalizes(&schema) {
                prop_assert_eq!(again, bytes);
            }
        }
    }
}
