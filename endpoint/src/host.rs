//! Facts about the machine this member runs on, shared by `/api/v3/info` and the cluster
//! state report.

/// The host name, as DRP's `server_hostname` reports it (empty when unknown).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
