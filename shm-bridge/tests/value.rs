//! Value objects mirrored across two bridge processes (the far side always
//! whole, eventually the newest), several streams from one configuration
//! file, and a far-side object of another layout refused with the field
//! named.

mod common;

const N: u64 = 20_000;

use common::{Bridge, assert_clean, free_port, name, until, until_or};
use shm_runtime::{Shared, SharedObject, SharedState, SharedString};
use std::time::{Duration, Instant};

#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct Pose {
    seq: u64,
    x: f64,
    twice: u64,
    tag: [u32; 6],
}

fn pose(i: u64) -> Pose {
    #[expect(clippy::cast_possible_truncation, reason = "a check")]
    let t = i as u32;
    #[expect(clippy::cast_precision_loss, reason = "small numbers")]
    Pose { seq: i, x: i as f64, twice: i * 2, tag: [t; 6] }
}

fn whole(p: &Pose) -> bool {
    #[expect(clippy::cast_possible_truncation, reason = "a check")]
    let t = p.seq as u32;
    #[expect(clippy::cast_precision_loss, reason = "small numbers")]
    let x = p.seq as f64;
    p.x.to_bits() == x.to_bits() && p.twice == p.seq * 2 && p.tag == [t; 6]
}

#[test]
fn shared_state_and_string_mirrored_from_one_config_file() {
    let (a, b) = (name("pose-a"), name("pose-b"));
    let (text_a, text_b_name) = (name("text-a"), name("text-b"));
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/pose", std::process::id());
    let source = Shared::create_named(&a, &pose(0)).expect("create A");
    let text = SharedString::create_named(&text_a, 64).expect("create text A");
    text.write("first").expect("write");
    let config = std::env::temp_dir().join(format!("shm-bridge-test-{}.conf", std::process::id()));
    std::fs::write(
        &config,
        format!("# the far side\n--connect {listen}\nin --key {key} --to {b} --create 1\nin --key {key}/text --to {text_b_name} --create 1\n"),
    )
    .expect("write the config");
    let out_config = format!("--listen {listen}\nout --from {a} --key {key}\nout --from {text_a} --key {key}/text\n");
    let out_file = std::env::temp_dir().join(format!("shm-bridge-test-{}-out.conf", std::process::id()));
    std::fs::write(&out_file, out_config).expect("write the config");
    let out = Bridge::start("vout", &["--config", out_file.to_str().expect("utf-8"), "--quiet"]);
    let inb = Bridge::start("vin", &["--config", config.to_str().expect("utf-8"), "--quiet"]);
    let logs = || format!("out:\n{}\nin:\n{}", out.log(), inb.log());
    let mirror = until_or(Duration::from_secs(30), "object B", || Shared::<Pose>::open(&b).ok(), logs);
    let text_b = until_or(Duration::from_secs(30), "text B", || SharedString::open(&text_b_name).ok(), logs);
    let writer = std::thread::spawn(move || {
        for i in 1..=N {
            source.write(&pose(i)).expect("write A");
            if i % 64 == 0 {
                std::thread::yield_now();
            }
        }
        source
    });
    // The far side: every read whole, never going back, and the newest
    // value within a few seconds of the last write.
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < N {
        let now = mirror.read();
        assert!(whole(&now), "a torn value on the far side: {now:?}");
        assert!(now.seq >= seen, "went back from {seen} to {}", now.seq);
        seen = now.seq;
        assert!(Instant::now() < deadline, "the far side stopped at {seen}\n{}", logs());
    }
    until(Duration::from_secs(10), "the text", || (text_b.read().ok()? == "first").then_some(()));
    text.write("second, changed").expect("write");
    until(Duration::from_secs(10), "the new text", || (text_b.read().ok()? == "second, changed").then_some(()));
    let source = writer.join().expect("writer");
    out.stop();
    inb.stop();
    drop((source, text, mirror, text_b));
    let _ = std::fs::remove_file(config);
    let _ = std::fs::remove_file(out_file);
    assert_clean(&[&a, &b, &text_a, &text_b_name]);
}

/// `Pose` with one field of another type.
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct PoseF32 {
    seq: u64,
    x: f64,
    twice: i64,
    tag: [u32; 6],
}

#[test]
fn a_far_side_object_of_another_layout_is_refused_naming_the_field() {
    let (a, b) = (name("mis-a"), name("mis-b"));
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/mismatch", std::process::id());
    let source = Shared::create_named(&a, &pose(1)).expect("create A");
    let local = Shared::create_named(&b, &PoseF32::default()).expect("create B");
    let out = Bridge::start("mout", &["out", "--from", &a, "--key", &key, "--listen", &listen, "--quiet"]);
    let inb = Bridge::start("min", &["in", "--key", &key, "--to", &b, "--connect", &listen, "--quiet"]);
    let (status, log) = inb.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "the receiver accepted another layout:\n{log}");
    assert!(
        log.contains("layout mismatch")
            && log.contains("field `twice` is `i64` at offset 16 here but `u64` at offset 16 at the remote source"),
        "{log}"
    );
    assert_eq!(local.read(), PoseF32::default(), "nothing written into B");
    out.stop();
    drop((source, local));
    assert_clean(&[&a, &b]);
}
