//! The `shm-bridge` command: see [`shm_bridge::config::USAGE`].

use shm_bridge::{Config, run};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT and SIGTERM: the streams end, the bridge removes its
/// stats objects and lets go of its ends, and exits.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Relaxed: one flag, polled; an atomic store is async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", shm_bridge::config::USAGE);
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("shm-bridge: {e}");
            return ExitCode::from(2);
        }
    };
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let handler = on_signal as extern "C" fn(libc::c_int);
        // SAFETY: `on_signal` only stores to an atomic, which is
        // async-signal-safe, and has the signature `signal` expects.
        unsafe { libc::signal(signal, handler as libc::sighandler_t) };
    }
    match run(&config, &STOP) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shm-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}
