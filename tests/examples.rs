//! Runs each example pair the way the README tells a newcomer to.

mod common;

#[test]
fn creator_and_opener_exchange_hello_and_from_afar() {
    let (ok, out, err) = common::run_example("creator", &[]);
    assert!(ok, "creator failed\nstdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&r#"creator: wrote "Hello""#), "{out}");
    assert!(lines.contains(&r#"opener: read "Hello""#), "{out}");
    assert!(lines.contains(&r#"creator: got the answer "From afar""#), "{out}");
    let handle = lines.iter().find_map(|l| l.strip_prefix("creator: handle ")).expect("handle line");
    let name = handle.rsplit(':').next().expect("name field");
    assert!(!common::exists(name), "creator left {name} behind");
}

#[test]
fn opener_refuses_a_garbage_handle_with_a_clear_error() {
    let (ok, out, err) = common::run_example("opener", &["shm1:string:nonsense"]);
    assert!(!ok, "opener accepted garbage\nstdout:\n{out}");
    assert!(err.contains("invalid handle"), "stderr:\n{err}");
}

#[test]
fn pose_publisher_and_printer_agree_on_whole_samples() {
    let (ok, out, err) = common::run_example("pose_publisher", &["--rate", "400", "--count", "200"]);
    assert!(ok, "publisher failed\nstdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("publisher: published 200 samples"), "{out}");
    assert!(out.contains("printer: #200"), "{out}");
    let summary = out.lines().find(|l| l.starts_with("printer: read ")).expect("printer summary line");
    assert!(summary.ends_with("whole samples, last #200"), "{summary}");
    let handle = out.lines().find_map(|l| l.split(", handle ").nth(1)).expect("handle in the first line");
    let name = handle.rsplit(':').next().expect("name field");
    assert!(!common::exists(name), "publisher left {name} behind");
}

#[test]
fn producer_streams_samples_the_consumer_checks() {
    let (ok, out, err) = common::run_example("producer", &["100000"]);
    assert!(ok, "producer failed\nstdout:\n{out}\nstderr:\n{err}");
    let consumer = out.lines().find(|l| l.starts_with("consumer: ")).expect("consumer summary line");
    assert!(consumer.starts_with("consumer: received 100000 samples, in order and intact"), "{out}");
    let producer = out.lines().find(|l| l.starts_with("producer: sent ")).expect("producer summary line");
    assert!(producer.starts_with("producer: sent 100000 samples (7.2 MB) in "), "{producer}");
    for measure in [" M messages/s, ", " MB/s; the ring was full "] {
        assert!(producer.contains(measure), "{producer} lacks {measure:?}");
    }
    let handle = out.lines().find_map(|l| l.split(", handle ").nth(1)).expect("handle in the first line");
    let name = handle.rsplit(':').next().expect("name field");
    assert!(!common::exists(name), "producer left {name} behind");
}

#[test]
fn consumer_refuses_a_garbage_or_missing_handle_in_one_line() {
    // A garbage argument, then no argument and no SHM_HANDLE.
    for (args, why) in
        [(&["shm1:ring:nonsense"][..], "consumer: invalid handle \"shm1:ring:nonsense\": "), (&[], "SHM_HANDLE")]
    {
        let (ok, out, err) = common::run_example("consumer", args);
        assert!(!ok, "consumer ran with {args:?}\nstdout:\n{out}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "stderr:\n{err}");
        // Only cargo (compiler warnings, lock waits) could add other lines.
        let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("consumer")).collect();
        assert_eq!(ours.len(), 1, "stderr:\n{err}");
        assert!(ours[0].contains(why), "{:?} lacks {why:?}", ours[0]);
        assert!(ours[0].contains("usage: consumer [<handle>]"), "{:?}", ours[0]);
    }
}

#[test]
fn every_example_prints_its_usage_on_help_and_exits_zero() {
    let examples: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .expect("read examples/")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    assert!(examples.len() >= 7, "examples found: {examples:?}");
    for name in &examples {
        for flag in ["--help", "-h"] {
            // Bounded: `run_example` kills a child that runs for 300 s (a
            // build included); an example that ignored the flag would
            // start its peer or wait for a handle instead.
            let (ok, out, err) = common::run_example(name, &[flag]);
            assert!(ok, "{name} {flag} failed\nstdout:\n{out}\nstderr:\n{err}");
            assert!(out.starts_with(&format!("usage: {name}")), "{name} {flag}:\n{out}");
            assert!(out.contains("cargo run "), "{name} {flag} does not say how to run it:\n{out}");
        }
    }
}
