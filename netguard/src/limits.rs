//! The flags that bound one listener's connections, shared by `drp-endpoint` and `drp-manager`
//! so both spell and default them the same way.

use std::time::Duration;

/// Connection limits of a listener. The defaults follow hardened proxies (nginx, envoy): short
/// deadlines before a client has proven it speaks HTTP, longer ones once it has.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// Deadline for a TLS handshake (ms); a client that has not finished it is disconnected.
    #[arg(long, default_value_t = 5_000)]
    pub handshake_timeout_ms: u64,
    /// Deadline for the headers of a connection's first request, counted from the end of the
    /// TLS handshake (ms). Later requests on a kept-alive connection get `--idle-timeout-ms`.
    #[arg(long, default_value_t = 5_000)]
    pub header_timeout_ms: u64,
    /// A kept-alive connection with no request in flight for this long is closed (ms).
    #[arg(long, default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Connections open at once from one source address (one /64 for IPv6); the next one is
    /// refused at accept, before any TLS work.
    #[arg(long, default_value_t = 256)]
    pub max_conns_per_source: usize,
    /// Connections open at once on the listener; at the cap the oldest idle connection is
    /// closed to make room, and a new one is refused only when none is idle. 0: three quarters
    /// of the process's file-descriptor limit, at most 16384.
    #[arg(long, default_value_t = 0)]
    pub max_conns: usize,
    /// New connections per second accepted from one source (bursts of twice as many); more
    /// are closed at accept. Caps what a handshake flood costs. 0: unlimited.
    #[arg(long, default_value_t = 200)]
    pub new_conns_per_source_per_sec: u32,
    /// A request body must arrive at no less than this many bytes per second, averaged from
    /// the start of the body once the grace period is over; slower uploads get 408. 0: off.
    #[arg(long, default_value_t = 1024)]
    pub min_body_bytes_per_sec: u64,
    /// Time a request body may take before `--min-body-bytes-per-sec` applies (ms).
    #[arg(long, default_value_t = 10_000)]
    pub body_grace_ms: u64,
}

impl Default for ConnArgs {
    fn default() -> Self {
        ConnArgs {
            handshake_timeout_ms: 5_000,
            header_timeout_ms: 5_000,
            idle_timeout_ms: 60_000,
            max_conns_per_source: 256,
            max_conns: 0,
            new_conns_per_source_per_sec: 200,
            min_body_bytes_per_sec: 1024,
            body_grace_ms: 10_000,
        }
    }
}

/// [`ConnArgs`] resolved into what the listener uses.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// How long a TLS handshake may take before the connection is dropped.
    pub handshake_timeout: Duration,
    /// How long the first request's headers may take to arrive.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may sit with no request.
    pub idle_timeout: Duration,
    /// Open connections allowed from one source (an IPv4 address or an IPv6 /64).
    pub max_per_source: usize,
    /// Open connections allowed in total (past it, the oldest idle one is shed).
    pub max_total: usize,
    /// New connections a source may open per second; 0 means no limit.
    pub new_per_source_per_sec: u32,
    /// Bytes a second a request body must keep up after [`ConnLimits::body_grace`].
    pub min_body_rate: u64,
    /// How long a request body may trickle before the minimum rate applies.
    pub body_grace: Duration,
}

impl ConnArgs {
    /// Resolves the command-line values (milliseconds; `--max-conns 0` picks a default from the
    /// process's file limit) into durations and caps.
    pub fn limits(&self) -> ConnLimits {
        ConnLimits {
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms.max(1)),
            header_timeout: Duration::from_millis(self.header_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms.max(1)),
            max_per_source: self.max_conns_per_source.max(1),
            max_total: match self.max_conns {
                0 => default_max_total(),
                n => n,
            },
            new_per_source_per_sec: self.new_conns_per_source_per_sec,
            min_body_rate: self.min_body_bytes_per_sec,
            body_grace: Duration::from_millis(self.body_grace_ms),
        }
    }

    /// The consensus listener's limits: members keep a few long-lived connections (pinned once
    /// their handshake succeeds, so never shed), and a stranger can only ever hold handshake
    /// slots, the oldest of which give way to a member's new connection.
    pub fn consensus_limits(&self) -> ConnLimits {
        ConnLimits {
            max_per_source: 64,
            max_total: 1024,
            ..self.limits()
        }
    }
}

/// Three quarters of `RLIMIT_NOFILE` (the rest is for files, the log and peers), at most 16384.
fn default_max_total() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    let soft = if ok { lim.rlim_cur as usize } else { 1024 };
    (soft / 4 * 3).clamp(64, 16_384)
}

/// Request rate limits of an API (flags shared by `drp-endpoint` and `drp-manager`). Each is a
/// token bucket: the rate per second, in bursts of up to twice as many.
#[derive(Debug, Clone, clap::Args)]
pub struct RateArgs {
    /// Requests per second one authenticated user may make on this process; past it (and its
    /// burst of twice as many) requests get 429 with `Retry-After`. 0: unlimited.
    #[arg(long, default_value_t = 100)]
    pub rate_limit_per_user: u32,
    /// Requests per second from one source address (one /64 for IPv6), counted before
    /// authentication, so password guessing and floods are bounded too. 0: unlimited.
    #[arg(long, default_value_t = 1000)]
    pub rate_limit_per_source: u32,
}

impl Default for RateArgs {
    fn default() -> Self {
        RateArgs {
            rate_limit_per_user: 100,
            rate_limit_per_source: 1000,
        }
    }
}
