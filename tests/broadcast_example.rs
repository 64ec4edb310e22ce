//! Runs the broadcast example pair (`examples/broadcast_publisher.rs`,
//! which starts three `examples/broadcast_subscriber.rs`) under both
//! policies and checks what each side reports.

mod common;

fn run_pair(policy: &str) {
    let (ok, out, err) = common::run_example("broadcast_publisher", &["100000", "--policy", policy]);
    assert!(ok, "broadcast_publisher failed\nstdout:\n{out}\nstderr:\n{err}");
    let subscribers: Vec<&str> = out.lines().filter(|l| l.starts_with("broadcast_subscriber ")).collect();
    assert_eq!(subscribers.len(), 3, "{out}");
    for line in &subscribers {
        assert!(line.ends_with("in order and intact"), "{line}");
        if policy == "backpressure" {
            assert!(line.contains("received 100000 samples, missed 0"), "{line}");
        }
    }
    let publisher = out.lines().find(|l| l.starts_with("broadcast_publisher: published ")).expect("summary line");
    assert!(publisher.starts_with("broadcast_publisher: published 100000 samples in "), "{publisher}");
    let name = out.split("handle ").nth(1).and_then(|h| h.lines().next()).and_then(|h| h.rsplit(':').next());
    let name = name.expect("the handle line names the segment");
    assert!(!common::exists(name), "the example left {name} behind");
}

#[test]
fn broadcast_example_backpressure() {
    run_pair("backpressure");
}

#[test]
fn broadcast_example_overwrite() {
    run_pair("overwrite");
}

#[test]
fn broadcast_examples_print_their_help() {
    for example in ["broadcast_publisher", "broadcast_subscriber"] {
        let (ok, out, _) = common::run_example(example, &["--help"]);
        assert!(ok && out.starts_with(&format!("usage: {example}")), "{out}");
    }
}
