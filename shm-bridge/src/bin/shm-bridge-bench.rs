//! Bridged throughput and latency beside raw Zenoh publish-subscribe, on
//! loopback, in one run: `shm-bridge-bench [--smoke] [--rounds N] [--size BYTES] [--low-latency]`.
//!
//! - Throughput: `N` messages of 8 B, 16 KiB and 64 KiB. Raw: a publisher process
//!   puts them on a key, this process subscribes. Bridged: this process
//!   writes them into byte ring A, a `shm-bridge out` process carries A to
//!   a key, a `shm-bridge in` process writes ring B, this process reads
//!   B. Rate: messages from the first received to the last, over that
//!   time. Every message's number is checked.
//! - Latency: ping-pong. Raw: this process puts on one key, an echo
//!   process puts what it gets on another. Bridged: ring A1 -> bridge ->
//!   ring B1 -> echo process -> ring A2 -> bridge -> ring B2, two bridge
//!   processes with two streams each. One-way latency is half the median
//!   round trip; the added latency is bridged minus raw.
//!
//! Each round measures raw and bridged back to back; the ratio and the
//! added latency are taken per round and reported as the median and
//! range of the rounds (`--size 8`, `--size 16384` or `--size 65536` runs one size). `shm-bridge` is found beside
//! this binary (both are built together).
//!
//! `--low-latency` runs the bridges with `--low-latency` (Zenoh's
//! low-latency transport between them; 8 B and 16 KiB, as a 64 KiB item
//! does not fit in one low-latency message). Raw Zenoh is measured twice each
//! round then: at Zenoh's defaults (as before) and with the low-latency
//! transport on both of its sides, and the bridged figures are compared
//! with both.
//!
//! With `SHM_BRIDGE_TRACE=DIR` in the environment, the latency pings'
//! stages are recorded in every process and left in DIR (see
//! `shm_bridge::trace` and `tools/latency-trace.py`).

use shm_bridge::{Link, trace};
use shm_runtime::{ByteRing, Consumer, Producer, SharedObject};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use zenoh::Wait;
use zenoh::qos::CongestionControl;

const ROLE: &str = "SHM_BRIDGE_BENCH_ROLE";
const LIMIT: Duration = Duration::from_secs(120);
/// The pause between pings of the ring-only latency's second figure.
const PAUSE: Duration = Duration::from_millis(1);

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(ROLE) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        return match role.as_str() {
            "raw-pub" => raw_publisher(&args),
            "raw-echo" => raw_echo(&args),
            "ring-echo" => ring_echo(&args),
            _ => ExitCode::FAILURE,
        };
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if smoke { 1 } else { 5 });
    let only = args.iter().position(|a| a == "--size").and_then(|i| args.get(i + 1)?.parse().ok());
    let low_latency = args.iter().any(|a| a == "--low-latency");
    match bench(smoke, rounds, only, low_latency) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shm-bridge-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: our own child, not reaped yet; SIGTERM lets a bridge
            // remove what it made.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user and system, every thread) a child process has used so
/// far, from `/proc/PID/stat` (in clock ticks: 10 ms where `CLK_TCK` is
/// 100, so a figure per message needs a run of a second or more).
fn cpu_seconds(process: &Proc) -> Result<f64, String> {
    let pid = process.0.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("process {pid}: {e}"))?;
    // Fields after the command name (in parentheses, which may hold
    // spaces): state is the 3rd field, utime the 14th and stime the 15th.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("no command name in /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).ok_or("a short /proc/PID/stat");
    // SAFETY: sysconf reads a configuration value; no memory is passed.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if per_second <= 0 {
        return Err("no clock tick rate".into());
    }
    #[expect(clippy::cast_precision_loss, reason = "tick counts far below 2^52")]
    Ok((ticks(14)? + ticks(15)?) as f64 / per_second as f64)
}

fn role(name: &str, args: &[String]) -> Result<Proc, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new(me).env(ROLE, name).args(args).spawn().map(Proc).map_err(|e| e.to_string())
}

fn bridge(args: &[&str], low_latency: bool) -> Result<Proc, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path: PathBuf = exe.with_file_name("shm-bridge");
    Command::new(&path)
        .args(args)
        .args(low_latency.then_some("--low-latency"))
        .arg("--quiet")
        .stdout(Stdio::null())
        .spawn()
        .map(Proc)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn port() -> Result<String, String> {
    let p = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    Ok(format!("tcp/127.0.0.1:{p}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn message(i: u64, size: usize) -> Vec<u8> {
    let mut m = vec![0xa5; size];
    m[..8].copy_from_slice(&i.to_le_bytes());
    m
}

fn number(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[..8].try_into().unwrap_or([0xff; 8]))
}

fn name(tag: &str) -> String {
    format!("shmrs-bench-bridge-{}-{tag}", std::process::id())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".into(), |l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
}

/// Median and range of per-round figures, `median (min..max)`.
fn spread(v: &[f64], digits: usize) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.digits$} ({lo:.digits$}..{hi:.digits$})", median(v.to_vec()))
}

/// Whether a raw Zenoh role's last argument asks for the low-latency
/// transport.
fn low_latency_arg(args: &[String]) -> bool {
    args.last().is_some_and(|a| a == "ll")
}

fn ll_arg(low_latency: bool) -> String {
    if low_latency { "ll" } else { "default" }.into()
}

fn bench(smoke: bool, rounds: usize, only: Option<usize>, low_latency: bool) -> Result<(), String> {
    let sizes: [(usize, u64, u64); 3] = if smoke {
        [(8, 2_000, 50), (16_384, 100, 10), (65_536, 50, 10)]
    } else {
        [(8, 200_000, 2_000), (16_384, 16_000, 1_000), (65_536, 4_000, 500)]
    };
    println!("loopback, {rounds} round(s); load average {}", load());
    println!("each round measures raw and bridged back to back; ratio and added latency per round, median (min..max)");
    println!("one-way latency = round trip / 2");
    if low_latency {
        println!(
            "bridges with --low-latency; raw Zenoh at its defaults, and raw-ll: the low-latency transport on both sides"
        );
    }
    for (size, count, pings) in sizes {
        if only.is_some_and(|o| o != size) {
            continue;
        }
        if low_latency && !fits_low_latency(size) {
            println!("{size:>6} B  skipped: an item this large does not fit in one low-latency message");
            continue;
        }
        let mut raw_rates = Vec::new();
        let mut bridged_rates = Vec::new();
        let mut out_cpu = Vec::new();
        let mut in_cpu = Vec::new();
        let mut raw_lat = Vec::new();
        let mut bridged_lat = Vec::new();
        let mut raw_ll_rates = Vec::new();
        let mut raw_ll_lat = Vec::new();
        let mut thru = BridgedThroughput::start(size, low_latency)?;
        let mut lat = BridgedLatency::start(size, low_latency)?;
        // Traced: raw Zenoh on the bridges' transport.
        let mut raw_l = RawLatency::start(size, false, !low_latency)?;
        let mut raw_ll = if low_latency { Some(RawLatency::start(size, true, true)?) } else { None };
        let mut ring_l = RingLatency::start(size)?;
        let mut ring_lat = Vec::new();
        let mut ring_sleep_lat = Vec::new();
        for _ in 0..rounds {
            raw_rates.push(raw_throughput(size, count, false)?);
            if low_latency {
                raw_ll_rates.push(raw_throughput(size, count, true)?);
            }
            let (rate, cpu) = thru.run(count)?;
            bridged_rates.push(rate);
            out_cpu.push(cpu.0);
            in_cpu.push(cpu.1);
            raw_lat.push(raw_l.run(pings)? / 2.0 * 1e6);
            if let Some(raw_ll) = raw_ll.as_mut() {
                raw_ll_lat.push(raw_ll.run(pings)? / 2.0 * 1e6);
            }
            bridged_lat.push(lat.run(pings)? / 2.0 * 1e6);
            ring_lat.push(ring_l.run(pings, None)? / 2.0 * 1e6);
            ring_sleep_lat.push(ring_l.run(pings / 4, Some(PAUSE))? / 2.0 * 1e6);
        }
        drop((thru, lat, raw_l, raw_ll, ring_l));
        let ratios: Vec<f64> = bridged_rates.iter().zip(&raw_rates).map(|(b, r)| b / r).collect();
        let added: Vec<f64> = bridged_lat.iter().zip(&raw_lat).map(|(b, r)| b - r).collect();
        println!("{size:>6} B  raw msg/s      {}", spread(&raw_rates, 0));
        println!("{size:>6} B  bridged msg/s  {}", spread(&bridged_rates, 0));
        println!("{size:>6} B  ratio          {}", spread(&ratios, 2));
        if low_latency {
            let ratios: Vec<f64> = bridged_rates.iter().zip(&raw_ll_rates).map(|(b, r)| b / r).collect();
            println!("{size:>6} B  raw-ll msg/s   {}", spread(&raw_ll_rates, 0));
            println!("{size:>6} B  ratio to ll    {} (bridged / raw-ll)", spread(&ratios, 2));
        }
        println!("{size:>6} B  out CPU µs/msg {} (the `out` bridge process, user + system)", spread(&out_cpu, 2));
        println!("{size:>6} B  in CPU µs/msg  {} (the `in` bridge process, user + system)", spread(&in_cpu, 2));
        println!("{size:>6} B  raw µs         {}", spread(&raw_lat, 1));
        println!("{size:>6} B  bridged µs     {}", spread(&bridged_lat, 1));
        println!("{size:>6} B  added µs       {}", spread(&added, 1));
        if low_latency {
            let added: Vec<f64> = bridged_lat.iter().zip(&raw_ll_lat).map(|(b, r)| b - r).collect();
            println!("{size:>6} B  raw-ll µs      {}", spread(&raw_ll_lat, 1));
            println!("{size:>6} B  added to ll µs {} (bridged - raw-ll)", spread(&added, 1));
        }
        println!("{size:>6} B  ring hop µs    {} (back to back)", spread(&ring_lat, 1));
        println!("{size:>6} B  ring hop µs    {} (after a pause: the reader asleep)", spread(&ring_sleep_lat, 1));
    }
    println!("load average at the end {}", load());
    Ok(())
}

/// Whether items of `size` bytes fit in one low-latency message on the
/// bench's keys (`bench/<pid>/ping16384ll` and the like, well within 48
/// bytes), as `shm-bridge out --low-latency` checks at start.
fn fits_low_latency(size: usize) -> bool {
    size <= shm_bridge::stream::low_latency_item_max(&"k".repeat(48))
}

/// Messages per second at the receiver, first to last; checks numbers.
fn receive_rate(count: u64, mut next: impl FnMut() -> Result<u64, String>) -> Result<f64, String> {
    let first = next()?;
    if first != 0 {
        return Err(format!("the first message is {first}, not 0"));
    }
    let start = Instant::now();
    for i in 1..count {
        let got = next()?;
        if got != i {
            return Err(format!("message {got} where {i} was due"));
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    Ok((count - 1) as f64 / start.elapsed().as_secs_f64())
}

fn raw_throughput(size: usize, count: u64, low_latency: bool) -> Result<f64, String> {
    let endpoint = port()?;
    let key = format!("bench/{}/raw", std::process::id());
    let session = Link { connect: vec![endpoint.clone()], low_latency, ..Link::default() }.open()?;
    let subscriber = session.declare_subscriber(key.clone()).wait().map_err(|e| e.to_string())?;
    let _publisher = role("raw-pub", &[endpoint, key, size.to_string(), count.to_string(), ll_arg(low_latency)])?;
    let deadline = Instant::now() + LIMIT;
    receive_rate(count, || {
        let left = deadline.saturating_duration_since(Instant::now());
        let sample = subscriber.recv_timeout(left).map_err(|e| e.to_string())?.ok_or("timed out")?;
        Ok(number(&sample.payload().to_bytes()))
    })
}

fn raw_publisher(args: &[String]) -> ExitCode {
    let run = || -> Result<(), String> {
        let [endpoint, key, size, count, _] = args else { return Err("arguments".into()) };
        let (size, count): (usize, u64) = (size.parse().map_err(|_| "size")?, count.parse().map_err(|_| "count")?);
        let low_latency = low_latency_arg(args);
        let session = Link { listen: vec![endpoint.clone()], low_latency, ..Link::default() }.open()?;
        let publisher = session
            .declare_publisher(key.clone())
            .congestion_control(CongestionControl::Block)
            .wait()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + LIMIT;
        while !publisher.matching_status().wait().map_err(|e| e.to_string())?.matching() {
            if Instant::now() > deadline {
                return Err("no subscriber".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for i in 0..count {
            publisher.put(message(i, size)).wait().map_err(|e| e.to_string())?;
        }
        // Stay until killed: closing now could cut what is in flight.
        std::thread::sleep(LIMIT);
        Ok(())
    };
    run().map_or(ExitCode::FAILURE, |()| ExitCode::SUCCESS)
}

struct BridgedThroughput {
    tx: ByteRing<Producer>,
    rx: ByteRing<Consumer>,
    next: u64,
    bridges: (Proc, Proc),
}

impl BridgedThroughput {
    fn start(size: usize, low_latency: bool) -> Result<Self, String> {
        let (a, b) = (name(&format!("thru-a-{size}")), name(&format!("thru-b-{size}")));
        let endpoint = port()?;
        let key = format!("bench/{}/thru{size}", std::process::id());
        let tx = ByteRing::<Producer>::create_named(&a, size, 1024).map_err(|e| e.to_string())?;
        let out = bridge(&["out", "--from", &a, "--key", &key, "--listen", &endpoint], low_latency)?;
        let inb = bridge(&["in", "--key", &key, "--to", &b, "--create", "1024", "--connect", &endpoint], low_latency)?;
        let rx = wait_open(&b)?;
        Ok(Self { tx, rx, next: 0, bridges: (out, inb) })
    }

    /// The rate, and the CPU time each bridge process (out, in) spent per
    /// message meanwhile, in µs.
    fn run(&mut self, count: u64) -> Result<(f64, (f64, f64)), String> {
        let cpu = |bridges: &(Proc, Proc)| Ok::<_, String>((cpu_seconds(&bridges.0)?, cpu_seconds(&bridges.1)?));
        let before = cpu(&self.bridges)?;
        let base = self.next;
        let size = self.tx.slot_size();
        let ring = &mut self.tx;
        let mut buf = Vec::new();
        let rx = &mut self.rx;
        let rate = std::thread::scope(|s| {
            let writer = s.spawn(move || {
                for i in 0..count {
                    ring.write_timeout(&message(base + i, size), LIMIT).map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            });
            let rate = receive_rate(count, || {
                rx.read_timeout(&mut buf, LIMIT).map_err(|e| e.to_string())?;
                Ok(number(&buf) - base)
            });
            writer.join().map_err(|_| "writer panicked".to_string())??;
            rate
        })?;
        // From before the first message was written to after the last
        // arrived: each bridge's whole cost of carrying them, idle waits
        // included.
        let after = cpu(&self.bridges)?;
        self.next += count;
        #[expect(clippy::cast_precision_loss, reason = "message counts far below 2^52")]
        let per_message = |from: f64, to: f64| (to - from) / count as f64 * 1e6;
        Ok((rate, (per_message(before.0, after.0), per_message(before.1, after.1))))
    }
}

fn wait_open(name: &str) -> Result<ByteRing<Consumer>, String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        match ByteRing::<Consumer>::open(name) {
            Ok(r) => return Ok(r),
            Err(e) if Instant::now() > deadline => return Err(e.to_string()),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

struct RawLatency {
    publisher: zenoh::pubsub::Publisher<'static>,
    subscriber: zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
    size: usize,
    /// Pings traced (`trace::mark`): one raw run only (its numbers are
    /// paired with its echo's), the one on the bridges' transport.
    traced: bool,
    _echo: Proc,
    _session: zenoh::Session,
}

impl RawLatency {
    fn start(size: usize, low_latency: bool, traced: bool) -> Result<Self, String> {
        let endpoint = port()?;
        let tag = if low_latency { "ll" } else { "" };
        let (request_key, reply_key) = (
            format!("bench/{}/ping{size}{tag}", std::process::id()),
            format!("bench/{}/pong{size}{tag}", std::process::id()),
        );
        let session = Link { listen: vec![endpoint.clone()], low_latency, ..Link::default() }.open()?;
        let subscriber = session.declare_subscriber(reply_key.clone()).wait().map_err(|e| e.to_string())?;
        let publisher = session
            .declare_publisher(request_key.clone())
            .congestion_control(CongestionControl::Block)
            .wait()
            .map_err(|e| e.to_string())?;
        let traced_arg = if traced { "traced" } else { "untraced" }.to_owned();
        let echo = role("raw-echo", &[endpoint, request_key, reply_key, traced_arg, ll_arg(low_latency)])?;
        let deadline = Instant::now() + LIMIT;
        while !publisher.matching_status().wait().map_err(|e| e.to_string())?.matching() {
            if Instant::now() > deadline {
                return Err("no echo".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // The echo's publisher may be matched a little later.
        std::thread::sleep(Duration::from_millis(300));
        if traced {
            trace::note(&format!("raw-echo {}", echo.0.id()));
        }
        Ok(Self { publisher, subscriber, size, traced, _echo: echo, _session: session })
    }

    fn run(&mut self, pings: u64) -> Result<f64, String> {
        let mut times = Vec::new();
        for i in 0..pings {
            let start = Instant::now();
            let ping = message(i, self.size);
            if self.traced {
                trace::mark(trace::RAW_PUT, trace::number(&ping));
            }
            self.publisher.put(ping).wait().map_err(|e| e.to_string())?;
            loop {
                let sample = self.subscriber.recv_timeout(LIMIT).map_err(|e| e.to_string())?.ok_or("no pong")?;
                if number(&sample.payload().to_bytes()) == i {
                    if self.traced {
                        trace::mark(trace::RAW_RECEIVED, trace::on().then_some(i));
                    }
                    break;
                }
            }
            times.push(start.elapsed().as_secs_f64());
        }
        Ok(median(times))
    }
}

fn raw_echo(args: &[String]) -> ExitCode {
    let run = || -> Result<(), String> {
        let [endpoint, request_key, reply_key, traced, _] = args else { return Err("arguments".into()) };
        let low_latency = low_latency_arg(args);
        let traced = traced == "traced";
        let session = Link { connect: vec![endpoint.clone()], low_latency, ..Link::default() }.open()?;
        let subscriber = session.declare_subscriber(request_key.clone()).wait().map_err(|e| e.to_string())?;
        let publisher = session
            .declare_publisher(reply_key.clone())
            .congestion_control(CongestionControl::Block)
            .wait()
            .map_err(|e| e.to_string())?;
        let mut n = 0_u64;
        // A traced echo writes its records every 256 pings (after a pong:
        // the next ping waits at most for one such write).
        while let Ok(sample) = subscriber.recv() {
            if trace::on() && traced {
                trace::mark(trace::RAW_ECHO_RECEIVED, trace::number(&sample.payload().to_bytes()));
            }
            publisher.put(sample.payload().clone()).wait().map_err(|e| e.to_string())?;
            n += 1;
            if n.is_multiple_of(256) && traced {
                trace::dump();
            }
        }
        Ok(())
    };
    run().map_or(ExitCode::FAILURE, |()| ExitCode::SUCCESS)
}

struct BridgedLatency {
    tx: ByteRing<Producer>,
    rx: ByteRing<Consumer>,
    next: u64,
    _procs: (Proc, Proc, Proc),
}

impl BridgedLatency {
    fn start(size: usize, low_latency: bool) -> Result<Self, String> {
        let t = |s: &str| name(&format!("lat-{s}-{size}"));
        let (a1, b1, a2, b2) = (t("a1"), t("b1"), t("a2"), t("b2"));
        let endpoint = port()?;
        let (k1, k2) =
            (format!("bench/{}/l1-{size}", std::process::id()), format!("bench/{}/l2-{size}", std::process::id()));
        let tx = ByteRing::<Producer>::create_named(&a1, size, 64).map_err(|e| e.to_string())?;
        let echo = role("ring-echo", &[b1.clone(), a2.clone(), size.to_string()])?;
        // The echo makes A2 before the far bridge looks for it.
        let deadline = Instant::now() + LIMIT;
        while shm_runtime::tools::inspect_segment(&a2).is_err() {
            if Instant::now() > deadline {
                return Err("the echo did not start".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Two bridge processes, each with a stream each way.
        let config = |tag: &str, text: String| -> Result<String, String> {
            let path = std::env::temp_dir().join(format!("{}-{tag}.conf", name("lat")));
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            Ok(path.to_string_lossy().into_owned())
        };
        let near_conf = config(
            &format!("near-{size}"),
            format!("--listen {endpoint}\nout --from {a1} --key {k1}\nin --key {k2} --to {b2} --create 64\n"),
        )?;
        let far_conf = config(
            &format!("far-{size}"),
            format!("--connect {endpoint}\nin --key {k1} --to {b1} --create 64\nout --from {a2} --key {k2}\n"),
        )?;
        let near = bridge(&["--config", &near_conf], low_latency)?;
        let far = bridge(&["--config", &far_conf], low_latency)?;
        let rx = wait_open(&b2);
        let _ = std::fs::remove_file(near_conf);
        let _ = std::fs::remove_file(far_conf);
        let rx = rx?;
        trace::note(&format!(
            "bench {} echo {} near {} far {}",
            std::process::id(),
            echo.0.id(),
            near.0.id(),
            far.0.id()
        ));
        Ok(Self { tx, rx, next: 0, _procs: (echo, near, far) })
    }

    fn run(&mut self, pings: u64) -> Result<f64, String> {
        let size = self.tx.slot_size();
        let mut buf = Vec::new();
        let mut times = Vec::new();
        for _ in 0..pings {
            let i = self.next;
            self.next += 1;
            let start = Instant::now();
            let ping = message(i, size);
            trace::mark(trace::BENCH_WRITE, trace::number(&ping));
            self.tx.write_timeout(&ping, LIMIT).map_err(|e| e.to_string())?;
            self.rx.read_timeout(&mut buf, LIMIT).map_err(|e| e.to_string())?;
            trace::mark(trace::BENCH_READ, trace::number(&buf));
            if number(&buf) != i {
                return Err(format!("reply_key {} for request_key {i}", number(&buf)));
            }
            times.push(start.elapsed().as_secs_f64());
        }
        // Outside the timed pings (the raw ones' records too).
        trace::dump();
        Ok(median(times))
    }
}

/// Ring-only ping-pong, no bridge: ring R1 -> echo process -> ring R2.
/// Half its round trip is one ring hop (a write, a wake-up, a read); the
/// bridged one-way path has two more of them than raw Zenoh (into the
/// sending bridge, out of the receiving one).
struct RingLatency {
    // Stopped first (fields drop in order): the consumer of R2 let go
    // after its producer is gone, and removes it.
    _echo: Proc,
    tx: ByteRing<Producer>,
    rx: ByteRing<Consumer>,
    next: u64,
}

impl RingLatency {
    fn start(size: usize) -> Result<Self, String> {
        let (r1, r2) = (name(&format!("hop-r1-{size}")), name(&format!("hop-r2-{size}")));
        let tx = ByteRing::<Producer>::create_named(&r1, size, 64).map_err(|e| e.to_string())?;
        let echo = role("ring-echo", &[r1, r2.clone(), size.to_string()])?;
        let rx = wait_open(&r2)?;
        Ok(Self { _echo: echo, tx, rx, next: 0 })
    }

    /// Median round trip; with `pause`, that long between pings (the
    /// echo goes from spinning to sleeping in its wait, as the bridges
    /// do between items that come a round trip apart).
    fn run(&mut self, pings: u64, pause: Option<Duration>) -> Result<f64, String> {
        let size = self.tx.slot_size();
        let mut buf = Vec::new();
        let mut times = Vec::new();
        for _ in 0..pings {
            let i = self.next;
            self.next += 1;
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
            let start = Instant::now();
            self.tx.write_timeout(&message(i, size), LIMIT).map_err(|e| e.to_string())?;
            self.rx.read_timeout(&mut buf, LIMIT).map_err(|e| e.to_string())?;
            if number(&buf) != i {
                return Err(format!("echo {} for {i}", number(&buf)));
            }
            times.push(start.elapsed().as_secs_f64());
        }
        Ok(median(times))
    }
}

fn ring_echo(args: &[String]) -> ExitCode {
    let run = || -> Result<(), String> {
        let [from, to, size] = args else { return Err("arguments".into()) };
        let size: usize = size.parse().map_err(|_| "size")?;
        let mut tx = ByteRing::<Producer>::create_named(to, size, 64).map_err(|e| e.to_string())?;
        let mut rx = wait_open(from)?;
        let mut buf = Vec::new();
        let mut n = 0_u64;
        loop {
            rx.read_timeout(&mut buf, LIMIT).map_err(|e| e.to_string())?;
            trace::mark(trace::ECHO_READ, trace::number(&buf));
            tx.write_timeout(&buf, LIMIT).map_err(|e| e.to_string())?;
            // Traced: records written every 256 pings, after a pong.
            n += 1;
            if n.is_multiple_of(256) {
                trace::dump();
            }
        }
    };
    run().map_or(ExitCode::FAILURE, |()| ExitCode::SUCCESS)
}
