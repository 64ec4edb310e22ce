//! The machine the figures come from: CPU model and count (from
//! /proc/cpuinfo), caches, kernel (the `uname` fields, read from
//! /proc/sys/kernel), clock source, memory, and the load average (the
//! machine may be shared).

use serde_json::{Value, json};

/// What the report says about the machine.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `model name` of the first CPU.
    pub cpu_model: String,
    /// Logical CPUs listed in /proc/cpuinfo.
    pub cpus: usize,
    /// CPUs this process may run on.
    pub available: usize,
    /// Cache sizes of CPU 0, e.g. `L1d 64K, L1i 64K, L2 1024K, L3 32768K`.
    pub caches: String,
    /// `uname -s -r` and `uname -v`.
    pub kernel: String,
    /// Kernel build string (`uname -v`).
    pub kernel_version: String,
    /// `uname -m`.
    pub arch: String,
    /// Whether the CPU flags say it runs under a hypervisor.
    pub virtualized: bool,
    /// Current clock source.
    pub clocksource: String,
    /// `MemTotal` from /proc/meminfo.
    pub memory: String,
    /// /proc/loadavg when the run started.
    pub load_start: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

impl Machine {
    /// Describes this machine.
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let cpus = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
        let virtualized = field("flags").is_some_and(|f| f.split_whitespace().any(|x| x == "hypervisor"));
        let mut caches = Vec::new();
        for index in 0..8 {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
            if !std::path::Path::new(&dir).exists() {
                break;
            }
            let kind = match read(&format!("{dir}/type")).as_str() {
                "Data" => "d",
                "Instruction" => "i",
                _ => "",
            };
            caches.push(format!("L{}{kind} {}", read(&format!("{dir}/level")), read(&format!("{dir}/size"))));
        }
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal"))
                    .map(|l| l.trim_start_matches("MemTotal:").trim().to_owned())
            })
            .unwrap_or_default();
        Self {
            cpu_model: field("model name").unwrap_or_else(|| "unknown".to_owned()),
            cpus,
            available: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            caches: caches.join(", "),
            kernel: format!("{} {}", read("/proc/sys/kernel/ostype"), read("/proc/sys/kernel/osrelease")),
            kernel_version: read("/proc/sys/kernel/version"),
            arch: std::env::consts::ARCH.to_owned(),
            virtualized,
            clocksource: read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
            memory,
            load_start: load(),
        }
    }

    /// Lines for the report.
    pub fn lines(&self, load_end: &str) -> Vec<String> {
        vec![
            format!(
                "CPU: {} ({} logical CPUs, {} available{})",
                self.cpu_model,
                self.cpus,
                self.available,
                if self.virtualized { ", virtual machine" } else { "" }
            ),
            format!("caches (CPU 0): {}", self.caches),
            format!("kernel: {} ({}), {}", self.kernel, self.kernel_version, self.arch),
            format!("clock source: {}; memory: {}", self.clocksource, self.memory),
            format!("load average at start: {}; at end: {load_end}", self.load_start),
        ]
    }

    /// JSON form.
    pub fn json(&self, load_end: &str) -> Value {
        json!({
            "cpu_model": self.cpu_model,
            "logical_cpus": self.cpus,
            "available_cpus": self.available,
            "caches": self.caches,
            "kernel": self.kernel,
            "kernel_version": self.kernel_version,
            "arch": self.arch,
            "virtualized": self.virtualized,
            "clocksource": self.clocksource,
            "memory": self.memory,
            "load_start": self.load_start,
            "load_end": load_end,
        })
    }
}

/// /proc/loadavg now.
pub fn load() -> String {
    read("/proc/loadavg")
}
