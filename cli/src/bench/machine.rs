//! What the numbers of a benchmark depend on: the machine, its load, and the memory of a
//! process, read from `/proc` (Linux only; elsewhere the fields stay empty).

use serde::Serialize;

/// The machine a benchmark ran on.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    /// CPUs that this process may use.
    pub cores: usize,
    /// CPU model from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// One-minute load average when the benchmark started.
    pub load_before: f64,
    /// One-minute load average when the benchmark ended.
    pub load_after: f64,
}

impl Machine {
    /// Describes this machine and its load now.
    pub fn describe() -> Self {
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|line| line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned()))
            .unwrap_or_default();
        let memory_kib = read("/proc/meminfo")
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:").and_then(|rest| first_number(rest)))
            .unwrap_or(0);
        Self {
            cores: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            cpu_model,
            memory_mib: memory_kib / 1024,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_before: load_average(),
            load_after: 0.0,
        }
    }
}

/// Returns the one-minute load average, or 0 when it cannot be read.
pub fn load_average() -> f64 {
    read("/proc/loadavg").split_whitespace().next().and_then(|value| value.parse().ok()).unwrap_or(0.0)
}

/// Returns the resident memory of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    read(&format!("/proc/{pid}/status")).lines().find_map(|line| line.strip_prefix("VmRSS:").and_then(first_number))
}

fn first_number(text: &str) -> Option<u64> {
    text.split_whitespace().next().and_then(|value| value.parse().ok())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_rss_is_read() {
        let rss = rss_kib(std::process::id());
        assert!(rss.is_some_and(|kib| kib > 0), "{rss:?}");
    }

    #[test]
    fn number_after_label() {
        assert_eq!(first_number("   24512 kB"), Some(24512));
        assert_eq!(first_number(""), None);
    }
}
