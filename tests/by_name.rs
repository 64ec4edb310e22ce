//! Programs that agree on a name instead of passing a handle: `open`
//! before the creator exists (it waits), and `open_or_create` from several
//! processes started at once (one creates, the others open what it made).

mod common;

use common::{Kid, RemoveOnDrop, unique_name};
use shm_runtime::{OpenError, OpenOptions, SharedBytes, SharedInt, SharedObject, SharedString};
use std::time::{Duration, Instant};

const NAME_ENV: &str = "SHM_TEST_NAME";
const COUNT_ENV: &str = "SHM_TEST_COUNT";

/// Started before the creator: `open` waits for the name to appear and be
/// ready, then adds one.
#[test]
fn open_by_name_waits_for_a_creator_that_starts_later() {
    if common::role().as_deref() == Some("opener") {
        let name = std::env::var(NAME_ENV).unwrap();
        let counter = SharedInt::open_with(&name, &OpenOptions::new().wait(common::WAIT_LIMIT)).unwrap();
        counter.fetch_add(1);
        return;
    }
    let name = unique_name("byname");
    let _left = RemoveOnDrop(name.clone());
    let kid = Kid::spawn("open_by_name_waits_for_a_creator_that_starts_later", "opener", &[(NAME_ENV, name.clone())]);
    std::thread::sleep(Duration::from_millis(200));
    let counter = SharedInt::create_named(&name, 41).unwrap();
    kid.expect_success();
    assert_eq!(counter.read(), 42, "the opener found the creator's segment by name");
}

/// Eight processes call `open_or_create` at once: exactly one creates,
/// every one adds to the same counter, none fails.
#[test]
fn open_or_create_from_processes_started_at_once() {
    if common::role().as_deref() == Some("racer") {
        let name = std::env::var(NAME_ENV).unwrap();
        let go = SharedInt::open_with(&std::env::var(COUNT_ENV).unwrap(), &OpenOptions::new()).unwrap();
        while go.read() == 0 {
            std::hint::spin_loop();
        }
        let options = OpenOptions::new().wait(common::WAIT_LIMIT);
        let counter = SharedInt::open_or_create(&name, &options, |name| SharedInt::create_named(name, 0)).unwrap();
        counter.fetch_add(1);
        // The creator's name must outlive the others' adds: it waits for
        // all of them before it drops (and removes) it.
        if counter.is_creator() {
            counter.fetch_add(1000);
            let deadline = Instant::now() + common::WAIT_LIMIT;
            while counter.read() < 1008 {
                assert!(Instant::now() < deadline, "the others never added");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        return;
    }
    let name = unique_name("ooc");
    let _left = RemoveOnDrop(name.clone());
    let go = SharedInt::create_named(&unique_name("ooc-go"), 0).unwrap();
    let kids: Vec<Kid> = (0..8)
        .map(|_| {
            Kid::spawn(
                "open_or_create_from_processes_started_at_once",
                "racer",
                &[(NAME_ENV, name.clone()), (COUNT_ENV, go.name().as_str().to_owned())],
            )
        })
        .collect();
    // All of them waiting on `go` (or close to it): start them together.
    std::thread::sleep(Duration::from_millis(300));
    go.write(1);
    for kid in kids {
        kid.expect_success();
    }
    assert!(!common::exists(&name), "the creator removed the name when it dropped");
}

/// A name held by another kind is refused with the error a handle would
/// give; a missing name is `NotFound` after the wait; a bad name is
/// `InvalidName` at once.
#[test]
fn open_by_name_checks_like_a_handle() {
    let name = unique_name("bynamekind");
    let text = SharedString::create_named(&name, 16).unwrap();
    text.write("hi").unwrap();
    let err = SharedBytes::open(&name).unwrap_err();
    assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
    assert_eq!(SharedString::open(&name).unwrap().read().unwrap(), "hi");

    let start = Instant::now();
    let missing = unique_name("bynamemissing");
    let err = SharedInt::open_with(&missing, &OpenOptions::new().wait(Duration::from_millis(100))).unwrap_err();
    assert!(matches!(&err, OpenError::NotFound { name } if name.as_str() == missing), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(100), "gave up before the wait");

    let err = SharedInt::open("no/slashes").unwrap_err();
    assert!(matches!(err, OpenError::InvalidName(_)), "{err}");
}
