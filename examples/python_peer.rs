//! The Rust side of the Python package's cross-language tests
//! (`shm-python/tests/test_cross_language.py` runs it; the other side of
//! each pair is Python code there): opens or creates objects that a Python
//! process made or opens, so that each direction is tested with a real
//! Rust process.
//!
//! ```text
//! cargo run --example python_peer -- <command> <arguments>
//!   int <handle>                      read n, write 2n + 1, print n
//!   string <handle>                   read s, write it reversed, print s
//!   consume <handle or name> <count>
//!                                     read count messages "msg <i>"; print "ok <count>"
//!   produce <handle or name> <count>
//!                                     write count messages "msg <i>"; print "ok <count>"
//!   typed-consume <handle> <count>    read count u64 items 3i + 1 from a MemoryInterface
//!   typed-produce <handle> <count>    write count u64 items 3i + 1 into a MemoryInterface
//!   array <handle>                    add 1 to word 0 and double word 1 of every [u64; 2]
//!                                     record of a SharedArray; print its length
//!   create-int <value>                print a new int's handle, wait for a line on
//!                                     stdin, print the value, clean up
//!   create-string <capacity> <text>   print a new string's handle, wait for a line,
//!                                     print the string, clean up
//!   create-ring <slot> <slots> <count>
//!                                     print a new byte ring's handle (producer side),
//!                                     write count messages "msg <i>", then let go
//!   create-pose <x>                   print a new SharedArray<Pose>'s handle (3 elements,
//!                                     seq = index), Pose's layout fingerprint and a new
//!                                     Shared<Pose>'s handle; wait for a line, print
//!                                     "seqs" and each element's seq, clean up
//!   pose-ring <count>                 print a new MemoryInterface<Pose>'s handle (producer
//!                                     side, count slots) holding count poses, seq 0..count;
//!                                     wait for a line, clean up
//!   pose-update <handle>              read a Shared<Pose> (made in Python), check it is
//!                                     pose(x, seq) for its x and seq, write pose(2x, seq + 1),
//!                                     print seq
//!   pose-array <handle>               check element i of a SharedArray<Pose> (made in
//!                                     Python) is pose(i, i), write pose(2i, i + 10) there
//!                                     with `update`; print the length
//!   nested <handle>                   check element i of a SharedArray<Outer> (made and
//!                                     written in Python) is, byte for byte, what the
//!                                     runtime's `Value::encode` makes of nested(i); write
//!                                     the encoding of nested(i + 100) there; print "ok <len>"
//!   pose-consume <handle> <count>     read count poses pose(i, i) from a MemoryInterface<Pose>
//!                                     (made in Python), checking each; print "ok <count>"
//!   subscribe <handle> <count>        subscribe to a Broadcast<u64> (made in Python), print
//!                                     "ready", read count items 3i + 1; print "ok <count>"
//! ```

use shm_runtime::dynamic::{DynArray, ItemType};
use shm_runtime::format::schema::Schema;
use shm_runtime::tools::Value;
use shm_runtime::{
    ByteRing, Consumer, Flag, Handle, MemoryInterface, OpenOptions, Producer, Role, Shared, SharedArray, SharedInt,
    SharedObject, SharedState, SharedString, Subscriber,
};
use std::error::Error;
use std::io::{BufRead, Write};
use std::time::Duration;

/// The derived struct the Python tests declare field by field (`shm.Struct`).
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct Pose {
    /// Position, metres.
    x: f64,
    /// Position, metres.
    y: f64,
    /// Heading, radians.
    theta: f32,
    /// Sample number.
    seq: u32,
    /// A short label, zero-padded.
    tag: [u8; 7],
    /// Whether the pose is valid.
    valid: Flag,
}

/// Part of [`Outer`]: nested arrays and an array of flags.
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct Inner {
    /// Three points.
    points: [[i16; 2]; 3],
    /// Two switches.
    on: [Flag; 2],
}

/// The nested struct of the `nested` command (the Python tests declare
/// it as `shm.Struct`s): numbers of several widths, an array of structs
/// holding arrays, flags, a byte string.
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct Outer {
    /// A time stamp.
    stamp: u64,
    /// A gain.
    gain: f32,
    /// Two inner parts.
    inner: [Inner; 2],
    /// Three flags.
    flags: [Flag; 3],
    /// A signed level.
    level: i8,
    /// A short name, zero-padded.
    name: [u8; 4],
}

/// The value `nested(i)` of `shm-python/tests/test_shared_array.py`, built
/// as a [`Value`] tree (independently of Python's encoder).
fn nested_value(i: i32) -> Value {
    let field = |name: &str, value| (name.to_owned(), value);
    let array = |items: Vec<Value>| Value::Array { items, more: 0 };
    let inner = |k: i32| Value::Struct {
        name: "Inner".into(),
        fields: vec![
            field(
                "points",
                array(
                    (0..3)
                        .map(|j| array(vec![Value::Signed((10 * i + 3 * k + j).into()), Value::Signed((-j).into())]))
                        .collect(),
                ),
            ),
            field("on", array(vec![Value::Flag(k == 0), Value::Flag(i % 2 == 1)])),
        ],
    };
    Value::Struct {
        name: "Outer".into(),
        fields: vec![
            field("stamp", Value::Signed((1000 + i).into())),
            field("gain", Value::Float(0.25 * f64::from(i))),
            field("inner", array(vec![inner(0), inner(1)])),
            field("flags", array(vec![Value::Flag(true), Value::Flag(false), Value::Flag(i % 2 == 0)])),
            field("level", Value::Signed((-i).into())),
            field("name", Value::Bytes(format!("n{i}").into_bytes())),
        ],
    }
}

/// The `pose-array` command: checks element i of the `SharedArray<Pose>`
/// `handle` names is pose(i, i) and replaces it with pose(2i, i + 10).
fn pose_array(handle: &str) -> Result {
    let array = SharedArray::<Pose>::load_sharedobject(&handle.parse::<Handle>()?)?;
    for i in 0..array.len() {
        let seq = u32::try_from(i)?;
        array.update(i, |p| {
            if *p == pose(f64::from(seq), seq) {
                *p = pose(2.0 * p.x, seq + 10);
                Ok(())
            } else {
                Err(format!("element {i}: got {p:?}"))
            }
        })??;
    }
    println!("{}", array.len());
    Ok(())
}

/// The `nested` command: the array Python wrote, checked against the
/// runtime's encoder, and rewritten with it.
fn nested(handle: &str) -> Result {
    let item = ItemType::of::<Outer>();
    let array = DynArray::load(&handle.parse::<Handle>()?, Some(&item), &OpenOptions::new())?;
    let schema = Schema::from_desc(Outer::SCHEMA);
    let mut element = vec![0; item.size()];
    for i in 0..array.len() {
        array.get(i, &mut element)?;
        let n = i32::try_from(i)?;
        let expected = nested_value(n).encode(&schema)?;
        if element != expected {
            return Err(format!("element {i}: Python wrote {element:?}, Value::encode gives {expected:?}").into());
        }
        array.set(i, &nested_value(n + 100).encode(&schema)?)?;
    }
    println!("ok {}", array.len());
    Ok(())
}

/// The `create-pose`, `pose-ring` and `pose-update` commands, with their
/// one argument.
fn pose_command(command: &str, argument: &str) -> Result {
    match command {
        "create-pose" => {
            let x: f64 = argument.parse()?;
            let shared = Shared::create_sharedobject(&pose(x, 7))?;
            let array = SharedArray::create_from_slice(&[pose(x, 0), pose(x, 1), pose(x, 2)])?;
            println!("{}", array.handle());
            println!("{:#018x}", Pose::FINGERPRINT);
            announce(&shared.handle())?;
            // What Python may have written into the array meanwhile.
            let seqs: Vec<String> = array.iter().map(|p| p.seq.to_string()).collect();
            println!("seqs {}", seqs.join(" "));
            shared.cleanup()?;
            array.cleanup()?;
        }
        "pose-ring" => {
            let count: u32 = argument.parse()?;
            let mut ring = MemoryInterface::<Pose, Producer>::create_memorybuf(usize::try_from(count)?)?;
            for seq in 0..count {
                ring.write(&pose(f64::from(seq), seq))?;
            }
            announce(&ring.handle())?;
            ring.cleanup()?;
        }
        "pose-update" => {
            let shared = Shared::<Pose>::load_sharedobject(&argument.parse::<Handle>()?)?;
            let now = shared.read();
            if now != pose(now.x, now.seq) {
                return Err(format!("unexpected pose {now:?}").into());
            }
            shared.write(&pose(2.0 * now.x, now.seq + 1))?;
            println!("{}", now.seq);
        }
        _ => unreachable!("run passes only the pose commands"),
    }
    Ok(())
}

/// The pose `create-pose` stores, element `seq` of its array.
fn pose(x: f64, seq: u32) -> Pose {
    Pose { x, y: -x, theta: 0.5, seq, tag: *b"pose\0\0\0", valid: Flag::from(true) }
}

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// What `--help` prints.
const USAGE: &str = "usage: python_peer <command> <arguments>
the Rust side of shm-python's cross-language tests (pytest runs it):
  cargo run --example python_peer -- int <handle>
  cargo run --example python_peer -- string <handle>
  cargo run --example python_peer -- consume <handle or name> <count>
  cargo run --example python_peer -- produce <handle or name> <count>
  cargo run --example python_peer -- typed-consume <handle> <count>
  cargo run --example python_peer -- typed-produce <handle> <count>
  cargo run --example python_peer -- array <handle>
  cargo run --example python_peer -- create-int <value>
  cargo run --example python_peer -- create-string <capacity> <text>
  cargo run --example python_peer -- create-ring <slot size> <slots> <count>
  cargo run --example python_peer -- create-pose <x>
  cargo run --example python_peer -- pose-ring <count>
  cargo run --example python_peer -- pose-update <handle>
  cargo run --example python_peer -- pose-array <handle>
  cargo run --example python_peer -- nested <handle>
  cargo run --example python_peer -- pose-consume <handle> <count>
  cargo run --example python_peer -- subscribe <handle> <count>";

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("python_peer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or_else(|| format!("argument {i} missing: {args:?}"));
    match arg(0)? {
        "int" => {
            let int = SharedInt::load_sharedobject(&arg(1)?.parse::<Handle>()?)?;
            let n = int.read();
            int.write(2 * n + 1);
            println!("{n}");
        }
        "string" => {
            let string = SharedString::load_sharedobject(&arg(1)?.parse::<Handle>()?)?;
            let s = string.read()?;
            string.write(&s.chars().rev().collect::<String>())?;
            println!("{s}");
        }
        "consume" => {
            let mut ring = open_ring::<Consumer>(arg(1)?)?;
            let count: u64 = arg(2)?.parse()?;
            consume(&mut ring, count)?;
            println!("ok {count}");
        }
        "produce" => {
            let mut ring = open_ring::<Producer>(arg(1)?)?;
            let count: u64 = arg(2)?.parse()?;
            produce(&mut ring, count)?;
            println!("ok {count}");
        }
        "typed-consume" => {
            let mut ring = MemoryInterface::<u64, Consumer>::load_memorybuf(&arg(1)?.parse::<Handle>()?)?;
            let count: u64 = arg(2)?.parse()?;
            for i in 0..count {
                let item = ring.read_blocking()?;
                if item != 3 * i + 1 {
                    return Err(format!("item {i}: expected {}, got {item}", 3 * i + 1).into());
                }
            }
            println!("ok {count}");
        }
        "typed-produce" => {
            let mut ring = MemoryInterface::<u64, Producer>::load_memorybuf(&arg(1)?.parse::<Handle>()?)?;
            let count: u64 = arg(2)?.parse()?;
            for i in 0..count {
                ring.write_blocking(&(3 * i + 1))?;
            }
            println!("ok {count}");
        }
        "array" => {
            let array = SharedArray::<[u64; 2]>::load_sharedobject(&arg(1)?.parse::<Handle>()?)?;
            for i in 0..array.len() {
                array.update(i, |[a, b]| {
                    *a += 1;
                    *b *= 2;
                })?;
            }
            println!("{}", array.len());
        }
        "create-int" => {
            let int = SharedInt::create_sharedobject(arg(1)?.parse()?)?;
            announce(&int.handle())?;
            println!("{}", int.read());
            int.cleanup()?;
        }
        "create-string" => {
            let string = SharedString::create_sharedobject(arg(1)?.parse()?)?;
            string.write(arg(2)?)?;
            announce(&string.handle())?;
            println!("{}", string.read()?);
            string.cleanup()?;
        }
        "create-ring" => {
            let mut ring = ByteRing::<Producer>::create_memorybuf(arg(1)?.parse()?, arg(2)?.parse()?)?;
            println!("{}", ring.handle());
            std::io::stdout().flush()?;
            produce(&mut ring, arg(3)?.parse()?)?;
            // Dropped: the name stays until the consumer has read all.
        }
        "create-pose" | "pose-ring" | "pose-update" => pose_command(arg(0)?, arg(1)?)?,
        "pose-array" => pose_array(arg(1)?)?,
        "nested" => nested(arg(1)?)?,
        "pose-consume" => {
            let mut ring = MemoryInterface::<Pose, Consumer>::load_memorybuf(&arg(1)?.parse::<Handle>()?)?;
            let count: u32 = arg(2)?.parse()?;
            for seq in 0..count {
                let item = ring.read_blocking()?;
                if item != pose(f64::from(seq), seq) {
                    return Err(format!("pose {seq}: got {item:?}").into());
                }
            }
            println!("ok {count}");
        }
        "subscribe" => subscribe(arg(1)?, arg(2)?.parse()?)?,
        other => return Err(format!("unknown command {other:?}").into()),
    }
    Ok(())
}

/// The byte ring `text` names: a handle (`shm1:...`), or a segment name
/// (a compat `MemoryInterface`'s `memblk["name"]`), opened once it appears.
fn open_ring<R: Role>(text: &str) -> Result<ByteRing<R>> {
    Ok(if text.starts_with("shm1:") {
        ByteRing::load_memorybuf(&text.parse::<Handle>()?)?
    } else {
        ByteRing::open_with(text, &OpenOptions::new().wait(Duration::from_secs(30)))?
    })
}

/// Prints `handle`, then waits for the other side to say (a line on stdin)
/// that it is done with the object.
fn announce(handle: &Handle) -> Result {
    println!("{handle}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(())
}

/// Subscribes to the `Broadcast<u64>` `handle` names, says so, and reads
/// `count` items, checking each is `3i + 1`.
fn subscribe(handle: &str, count: u64) -> Result {
    let mut subscriber = Subscriber::<u64>::load_sharedobject(&handle.parse::<Handle>()?)?;
    println!("ready");
    std::io::stdout().flush()?;
    for i in 0..count {
        let item = subscriber.read_blocking()?;
        if item != 3 * i + 1 {
            return Err(format!("item {i}: expected {}, got {item}", 3 * i + 1).into());
        }
    }
    println!("ok {count}");
    Ok(())
}

/// Writes `count` messages `msg <i>`, waiting for room.
fn produce(ring: &mut ByteRing<Producer>, count: u64) -> Result {
    for i in 0..count {
        ring.write_blocking(format!("msg {i}").as_bytes())?;
    }
    Ok(())
}

/// Reads `count` messages and checks each is `msg <i>`, in order.
fn consume(ring: &mut ByteRing<Consumer>, count: u64) -> Result {
    let mut message = Vec::new();
    for i in 0..count {
        ring.read_blocking(&mut message)?;
        let expected = format!("msg {i}");
        if message != expected.as_bytes() {
            return Err(
                format!("message {i}: expected {expected:?}, got {:?}", String::from_utf8_lossy(&message)).into()
            );
        }
    }
    Ok(())
}
