//! What the scale scenarios need of the machine: open files, and the kernel's limits on
//! connections. Checked before a run; the sysctls are raised when the run is root (and
//! said so in the report), never lowered.

use std::fs;

/// The soft limit of open files of this process (its children inherit it).
pub fn open_files_limit() -> u64 {
    files_limit(3).unwrap_or(1024)
}

/// Field 3 (soft) or 4 (hard) of the open-files line of `/proc/self/limits`.
fn files_limit(field: usize) -> Option<u64> {
    fs::read_to_string("/proc/self/limits").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(field)?.parse().ok())
    })
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok())
    }) == Some(0)
}

fn read(key: &str) -> Option<String> {
    fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/")))
        .ok()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn write(key: &str, value: &str) -> bool {
    fs::write(format!("/proc/sys/{}", key.replace('.', "/")), value).is_ok()
}

/// Checks (and as root raises) what `clients` connections on loopback need. Returns one
/// line per finding, for the report.
pub fn prepare(clients: usize) -> Vec<String> {
    let mut notes = Vec::new();
    let root = is_root();
    let at_least = |key: &str, field: usize, min: u64, notes: &mut Vec<String>| {
        let Some(cur) = read(key) else { return };
        let mut fields: Vec<u64> = cur
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let Some(&have) = fields.get(field) else {
            return;
        };
        if have >= min {
            return;
        }
        if root {
            for (i, f) in fields.iter_mut().enumerate() {
                if i >= field {
                    *f = (*f).max(min);
                }
            }
            let new: Vec<String> = fields.iter().map(u64::to_string).collect();
            let new = new.join(" ");
            if write(key, &new) {
                notes.push(format!("set `{key}` from `{cur}` to `{new}`"));
                return;
            }
        }
        notes.push(format!("`{key}` is `{cur}`: want at least {min}"));
    };
    // Listen queues: the storm keeps a few hundred connections being set up at once.
    at_least("net.core.somaxconn", 0, 1024, &mut notes);
    at_least("net.ipv4.tcp_max_syn_backlog", 0, 1024, &mut notes);
    // Both ends of every connection are on this machine.
    at_least("fs.file-max", 0, 2 * clients as u64 + 65536, &mut notes);
    at_least("fs.nr_open", 0, clients as u64 + 65536, &mut notes);
    // The most TCP may use, in pages: idle sockets hold little, a broadcast's frames
    // in flight to 100 000 members a few hundred MB.
    at_least("net.ipv4.tcp_mem", 2, 262_144, &mut notes);
    if let Some(range) = read("net.ipv4.ip_local_port_range") {
        let v: Vec<u64> = range
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [lo, hi] = v[..] {
            // The clients spread over 16 source addresses, each with this range.
            if (hi.saturating_sub(lo) as usize) * 16 < 2 * clients {
                notes.push(format!(
                    "`net.ipv4.ip_local_port_range` is `{range}`: too narrow for {clients} clients over 16 addresses"
                ));
            }
        }
    }
    let limit = open_files_limit();
    if (limit as usize) < 100_000 + 1500 {
        let hard = files_limit(4).map_or("?".into(), |h| h.to_string());
        notes.push(format!(
            "open files limit {limit} (hard limit {hard}: bench/run.sh raises the soft limit to it, \
             and a higher hard limit needs CAP_SYS_RESOURCE): the scale scenarios asked for \
             100 000 clients run with {clients}"
        ));
    }
    notes
}

/// The settings a scale run met, for the report.
pub fn describe() -> String {
    let keys = [
        "net.ipv4.ip_local_port_range",
        "net.core.somaxconn",
        "net.ipv4.tcp_max_syn_backlog",
        "net.ipv4.tcp_mem",
        "fs.nr_open",
    ];
    let mut parts: Vec<String> = keys
        .iter()
        .filter_map(|k| read(k).map(|v| format!("`{k}` {v}")))
        .collect();
    parts.push(format!("open files {}", open_files_limit()));
    parts.join(", ")
}
