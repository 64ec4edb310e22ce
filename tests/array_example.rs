//! Runs `examples/array_workers.rs` the way its module comment tells a
//! newcomer to, and checks what it prints.

mod common;

#[test]
fn array_workers_fill_their_halves_and_the_parent_prints_them() {
    let (ok, out, err) = common::run_example("array_workers", &[]);
    assert!(ok, "array_workers failed\nstdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    let worker_pids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("parent: worker pid "))
        .map(|rest| rest.split(' ').next().expect("pid"))
        .collect();
    assert_eq!(worker_pids.len(), 2, "{out}");
    assert!(lines.contains(&format!("parent: worker pid {} fills 0..5", worker_pids[0]).as_str()), "{out}");
    assert!(lines.contains(&format!("parent: worker pid {} fills 5..10", worker_pids[1]).as_str()), "{out}");
    for i in 0..10 {
        let line = format!("parent: [{i}] value {} (written by pid {})", i * 2, worker_pids[i / 5]);
        assert!(lines.contains(&line.as_str()), "missing {line:?} in\n{out}");
    }
    for (pid, outside) in worker_pids.iter().zip([5, 10]) {
        let refused = format!("worker {pid}: refused as it should be: cannot write index {outside} of array");
        assert!(lines.iter().any(|l| l.starts_with(&refused)), "missing {refused:?} in\n{out}");
    }
    assert!(lines.contains(&"parent: all 10 records hold i * 2, each half from its own worker"), "{out}");
    let handle = lines.iter().find_map(|l| l.split(", handle ").nth(1)).expect("handle in the first line");
    assert!(handle.starts_with("shm1:array:"), "{handle}");
    let name = handle.rsplit(':').next().expect("name field");
    assert!(!common::exists(name), "array_workers left {name} behind");
}

#[test]
fn array_workers_refuses_a_garbage_part_in_one_line() {
    let (ok, out, err) = common::run_example("array_workers", &["--worker", "0..5@shm1:array:nonsense"]);
    assert!(!ok, "a worker ran with a garbage part\nstdout:\n{out}");
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("worker")).collect();
    assert_eq!(ours.len(), 1, "stderr:\n{err}");
    assert!(
        ours[0].starts_with("worker: cannot load array part: invalid array part \"0..5@shm1:array:nonsense\""),
        "{err}"
    );
    assert!(!err.contains("panicked"), "stderr:\n{err}");
}
