//! `process_*`: the process metrics Go's Prometheus client exports (and so
//! every etcd), read from `/proc/self` at each scrape.
//!
//! Ours rather than the `prometheus` crate's collector, which counts CPU in
//! whole seconds (a member that has used 0.9 s shows 0) and exports
//! `process_threads`, which Go's does not.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, Opts};

/// The collector; register one per process.
pub struct ProcessMetrics {
    cpu: Counter,
    open_fds: Gauge,
    max_fds: Gauge,
    virtual_memory: Gauge,
    virtual_memory_max: Gauge,
    resident_memory: Gauge,
    start_time: Gauge,
    /// Clock ticks per second and page size, for `/proc/self/stat`.
    ticks: f64,
    page: f64,
}

fn gauge(name: &str, help: &str) -> Gauge {
    Gauge::with_opts(Opts::new(name, help)).expect("a valid metric")
}

impl ProcessMetrics {
    pub fn new() -> ProcessMetrics {
        // SAFETY: sysconf only reads a configuration value.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        ProcessMetrics {
            cpu: Counter::with_opts(Opts::new(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
            ))
            .expect("a valid metric"),
            open_fds: gauge("process_open_fds", "Number of open file descriptors."),
            max_fds: gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            ),
            virtual_memory: gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            ),
            virtual_memory_max: gauge(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
            ),
            resident_memory: gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            ),
            start_time: gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
            ),
            ticks: if ticks > 0 { ticks as f64 } else { 100.0 },
            page: if page > 0 { page as f64 } else { 4096.0 },
        }
    }

    fn all(&self) -> [&dyn Collector; 7] {
        [
            &self.cpu,
            &self.open_fds,
            &self.max_fds,
            &self.virtual_memory,
            &self.virtual_memory_max,
            &self.resident_memory,
            &self.start_time,
        ]
    }

    /// Reads `/proc/self` into the metrics; what cannot be read keeps its
    /// last value.
    fn refresh(&self) {
        if let Some(stat) = read_stat() {
            let cpu = (stat.utime + stat.stime) / self.ticks;
            let grown = cpu - self.cpu.get();
            if grown > 0.0 {
                self.cpu.inc_by(grown);
            }
            self.virtual_memory.set(stat.vsize);
            self.resident_memory.set(stat.rss_pages * self.page);
            if let Some(boot) = boot_time() {
                self.start_time.set(boot + stat.start_ticks / self.ticks);
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(fds.count() as f64);
        }
        if let Some(max) = limit("Max open files") {
            self.max_fds.set(max);
        }
        if let Some(max) = limit("Max address space") {
            self.virtual_memory_max.set(max);
        }
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.all().into_iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.refresh();
        self.all().into_iter().flat_map(|c| c.collect()).collect()
    }
}

/// What `/proc/self/stat` says, in its units.
struct Stat {
    utime: f64,
    stime: f64,
    start_ticks: f64,
    vsize: f64,
    rss_pages: f64,
}

fn read_stat() -> Option<Stat> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The fields after the command name (which may hold spaces and
/// parentheses, hence the last `)`): field 3 is the first.
fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        start_ticks: field(22)?,
        vsize: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The boot time, seconds since the epoch (`btime` of `/proc/stat`).
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// A soft limit of `/proc/self/limits`; "unlimited" is the largest u64, as
/// Go's client reports it.
fn limit(name: &str) -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let soft = limits
        .lines()
        .find(|l| l.starts_with(name))?
        .trim_start_matches(name)
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(u64::MAX as f64),
        n => n.parse::<u64>().ok().map(|n| n as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_past_the_command_name() {
        let line =
            "4242 (etc d) (x)) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 9 0 777 123456 321 rest";
        let stat = parse_stat(line).unwrap();
        assert_eq!((stat.utime, stat.stime), (150.0, 50.0));
        assert_eq!(
            (stat.start_ticks, stat.vsize, stat.rss_pages),
            (777.0, 123456.0, 321.0)
        );
    }

    #[test]
    fn this_process_is_read() {
        let metrics = ProcessMetrics::new();
        let families = metrics.collect();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds_total",
                "process_open_fds",
                "process_max_fds",
                "process_virtual_memory_bytes",
                "process_virtual_memory_max_bytes",
                "process_resident_memory_bytes",
                "process_start_time_seconds"
            ]
        );
        assert!(metrics.resident_memory.get() > 0.0 && metrics.open_fds.get() > 0.0);
    }
}
