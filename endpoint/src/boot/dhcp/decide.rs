//! The DHCP server's decisions, as a pure function of (packet, where it came from, the
//! stored subnets, reservations and leases, now): the reply to send and the lease to commit
//! first. No I/O and no clock, so it is unit-tested and fuzzed directly.
//!
//! The lease write carries what it expects to replace (absent, or the ETag read), so a
//! decision made on a stale view fails its precondition instead of handing an address out
//! twice; the caller re-reads and decides again.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;
use serde_json::{json, Value};

use super::loaders::{Loaders, MachineType};
use super::options;
use super::packet::{self, ReplyFields, Request};

/// How long an offered address is held for the client's REQUEST (DRP holds offers briefly).
const OFFER_HOLD_S: u64 = 60;
/// How long a declined address stays unusable (it is in use by someone we do not know).
const DECLINE_HOLD_S: u64 = 600;
const CLIENT_PORT: u16 = 68;
const SERVER_PORT: u16 = 67;

/// Where a packet came from.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub bytes: &'a [u8],
    pub source: SocketAddrV4,
    /// IPv4 addresses of the interface it arrived on.
    pub local: &'a [Ipv4Addr],
}

/// The stored objects the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub subnets: &'a [Value],
    pub reservations: &'a [Value],
    pub leases: &'a [Value],
    /// Addresses whose lease another packet is committing right now (packets are handled
    /// concurrently): a new client is never offered one of them.
    pub in_flight: &'a HashSet<u32>,
    pub now_ms: u64,
    /// The client's boot loaders, resolved from its machine, bootenv and params (`loaders`).
    pub loaders: &'a Loaders,
}

/// What this member advertises (`boot::Advertised`).
#[derive(Debug, Clone, Default)]
pub struct Boot {
    pub next_server: Option<Ipv4Addr>,
    /// `http://<provisioner>:<static_port>`.
    pub provisioner_url: String,
    /// The cluster's virtual address: the server identifier on its subnet (and behind relays),
    /// so a client's REQUEST still names this server after the address moved to a new leader.
    pub virt_addr: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub to: SocketAddrV4,
    /// Our address on the receiving interface (the server identifier).
    pub from: Ipv4Addr,
}

/// A lease to commit before replying.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseWrite {
    pub addr: Ipv4Addr,
    pub object: Value,
    /// The ETag of the lease being replaced; `None`: create (no lease holds the address).
    pub etag: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub write: Option<LeaseWrite>,
    pub reply: Option<Reply>,
}

/// Why a packet gets no answer (logged at debug).
pub type Drop = &'static str;

pub fn decide(inbound: &Inbound, known: &Known, boot: &Boot) -> Result<Decision, Drop> {
    decide_request(&packet::parse(inbound.bytes)?, inbound, known, boot)
}

/// [`decide`] for a packet already parsed from `inbound.bytes` (the server reads it first to
/// pick the leases the decision needs).
pub fn decide_request(
    req: &Request,
    inbound: &Inbound,
    known: &Known,
    boot: &Boot,
) -> Result<Decision, Drop> {
    let (subnet, mut server_id) = select_subnet(req, inbound.local, known.subnets)?;
    if let Some(virt) = boot.virt_addr {
        if subnet.net.contains(&virt) || !req.header.giaddr().is_unspecified() {
            server_id = virt;
        }
    }
    let ctx = Ctx {
        req,
        inbound,
        known,
        boot,
        subnet,
        server_id,
        reservations: reservations_in(known.reservations, &subnet),
        leases: leases_in(known.leases, known.now_ms),
    };
    match req.kind {
        packet::DISCOVER => ctx.discover(),
        packet::REQUEST => ctx.request(),
        packet::INFORM => ctx.inform(),
        packet::RELEASE => ctx.release(),
        packet::DECLINE => ctx.decline(),
        _ => Err("not a message a server answers"),
    }
}

#[derive(Debug, Clone, Copy)]
struct Subnet<'a> {
    object: &'a Value,
    name: &'a str,
    net: Ipv4Net,
    range: Option<(u32, u32)>,
    lease_s: u64,
    reserved_s: u64,
    only_reservations: bool,
    unmanaged: bool,
}

fn ipv4(object: &Value, field: &str) -> Option<Ipv4Addr> {
    object.get(field)?.as_str()?.trim().parse().ok()
}

fn flag(object: &Value, field: &str) -> bool {
    object.get(field).and_then(Value::as_bool) == Some(true)
}

fn seconds(object: &Value, field: &str, default: u64) -> u64 {
    object
        .get(field)
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .unwrap_or(default)
        // The wire field is 32 bits.
        .min(u64::from(u32::MAX))
}

fn subnet_of(object: &Value) -> Option<Subnet<'_>> {
    if !flag(object, "Enabled") || flag(object, "Proxy") {
        return None;
    }
    let net: Ipv4Net = object.get("Subnet")?.as_str()?.trim().parse().ok()?;
    let range = match (ipv4(object, "ActiveStart"), ipv4(object, "ActiveEnd")) {
        (Some(s), Some(e)) if s <= e && net.contains(&s) && net.contains(&e) => {
            Some((u32::from(s), u32::from(e)))
        }
        _ => None,
    };
    Some(Subnet {
        object,
        name: object.get("Name").and_then(Value::as_str).unwrap_or(""),
        net,
        range,
        lease_s: seconds(object, "ActiveLeaseTime", 60),
        reserved_s: seconds(object, "ReservedLeaseTime", 7200),
        only_reservations: flag(object, "OnlyReservations"),
        unmanaged: flag(object, "Unmanaged"),
    })
}

/// The subnet the client is on: the one holding the relay's address, else one holding an
/// address of the interface the packet came in on. Never answer for other networks.
fn select_subnet<'a>(
    req: &Request,
    local: &[Ipv4Addr],
    subnets: &'a [Value],
) -> Result<(Subnet<'a>, Ipv4Addr), Drop> {
    let server_for = |link: Ipv4Addr| {
        subnets
            .iter()
            .filter_map(subnet_of)
            .filter(|s| s.net.contains(&link))
            // The most specific subnet wins when an admin nests them.
            .max_by_key(|s| s.net.prefix_len())
    };
    let giaddr = req.header.giaddr();
    if !giaddr.is_unspecified() {
        let server_id = *local
            .first()
            .ok_or("no address on the receiving interface")?;
        return server_for(giaddr)
            .map(|s| (s, server_id))
            .ok_or("no enabled subnet for the relay's network");
    }
    local
        .iter()
        .find_map(|a| server_for(*a).map(|s| (s, *a)))
        .ok_or("no enabled subnet for the receiving interface")
}

#[derive(Debug, Clone)]
struct Reservation<'a> {
    object: &'a Value,
    addr: Ipv4Addr,
    token: String,
}

fn reservations_in<'a>(all: &'a [Value], subnet: &Subnet) -> Vec<Reservation<'a>> {
    all.iter()
        .filter_map(|object| {
            let addr = ipv4(object, "Addr")?;
            let strategy = object.get("Strategy").and_then(Value::as_str).unwrap_or("");
            if !subnet.net.contains(&addr) || !matches!(strategy, "" | "MAC") {
                return None;
            }
            // A scoped reservation applies only through its own subnet.
            if flag(object, "Scoped") {
                let scope = object.get("Subnet").and_then(Value::as_str).unwrap_or("");
                if !scope.is_empty() && scope != subnet.name {
                    return None;
                }
            }
            let token = object.get("Token")?.as_str()?.to_ascii_lowercase();
            Some(Reservation {
                object,
                addr,
                token,
            })
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Lease<'a> {
    object: &'a Value,
    addr: Ipv4Addr,
    token: String,
    /// Still held at `now`.
    active: bool,
    expire_ms: u64,
}

/// When a lease object expires (Unix ms): 0 for DRP's zero time (absent, or Go's year 1),
/// `None` for a time that cannot be read (the address then stays held: never hand it out
/// twice).
pub fn lease_expiry_ms(object: &Value) -> Option<u64> {
    match object.get("ExpireTime").and_then(Value::as_str) {
        None => Some(0),
        Some(t) if t.is_empty() || t.starts_with("0001-") => Some(0),
        Some(t) => parse_time_ms(t),
    }
}

fn leases_in(all: &[Value], now_ms: u64) -> Vec<Lease<'_>> {
    all.iter()
        .filter_map(|object| {
            let addr = ipv4(object, "Addr")?;
            let token = object
                .get("Token")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            let expire_ms = lease_expiry_ms(object);
            Some(Lease {
                object,
                addr,
                token,
                // A time we cannot read keeps the address held: never hand it out twice.
                active: expire_ms.is_none_or(|e| e > now_ms),
                expire_ms: expire_ms.unwrap_or(u64::MAX),
            })
        })
        .collect()
}

/// RFC 3339 (`Z` or `±HH:MM`) to Unix milliseconds.
pub fn parse_time_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .len()
        .checked_sub(6)
        .and_then(|i| Some((t.get(..i)?, t.get(i..)?)));
    let (base, offset_s): (&str, i64) = match split {
        Some((base, off))
            if (off.starts_with('+') || off.starts_with('-')) && off.as_bytes()[3] == b':' =>
        {
            let h: i64 = off.get(1..3)?.parse().ok()?;
            let m: i64 = off.get(4..6)?.parse().ok()?;
            let sign = if off.starts_with('-') { -1 } else { 1 };
            (base, sign * (h * 3600 + m * 60))
        }
        _ => (t, 0),
    };
    let at = humantime::parse_rfc3339_weak(base).ok()?;
    let ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
    u64::try_from(ms - offset_s * 1000).ok()
}

struct Ctx<'a> {
    req: &'a Request,
    inbound: &'a Inbound<'a>,
    known: &'a Known<'a>,
    boot: &'a Boot,
    subnet: Subnet<'a>,
    server_id: Ipv4Addr,
    reservations: Vec<Reservation<'a>>,
    leases: Vec<Lease<'a>>,
}

impl<'a> Ctx<'a> {
    fn mac(&self) -> &str {
        &self.req.mac
    }

    fn my_reservation(&self) -> Option<&Reservation<'a>> {
        self.reservations.iter().find(|r| r.token == self.mac())
    }

    fn reserved_for_other(&self, addr: Ipv4Addr) -> bool {
        self.reservations
            .iter()
            .any(|r| r.addr == addr && r.token != self.mac())
    }

    /// The lease record at `addr` (keys are addresses: at most one).
    fn lease_at(&self, addr: Ipv4Addr) -> Option<&Lease<'a>> {
        self.leases.iter().find(|l| l.addr == addr)
    }

    fn held_by_other(&self, addr: Ipv4Addr) -> bool {
        self.lease_at(addr)
            .is_some_and(|l| l.active && l.token != self.mac())
    }

    fn in_range(&self, addr: Ipv4Addr) -> bool {
        self.subnet
            .range
            .is_some_and(|(s, e)| (s..=e).contains(&u32::from(addr)))
    }

    /// Never the network, broadcast or one of our own addresses.
    fn usable(&self, addr: Ipv4Addr) -> bool {
        addr != self.subnet.net.network()
            && addr != self.subnet.net.broadcast()
            && addr != self.server_id
            && !self.inbound.local.contains(&addr)
    }

    fn free_for_me(&self, addr: Ipv4Addr) -> bool {
        !self.known.in_flight.contains(&u32::from(addr))
            && self.in_range(addr)
            && self.usable(addr)
            && !self.reserved_for_other(addr)
            && !self.held_by_other(addr)
    }

    /// The address for a DISCOVER: the client's reservation; else its own lease (expired
    /// or not) in the range; else the address it asks for, if free; else the first free one.
    fn choose(&self) -> Result<(Ipv4Addr, bool), Drop> {
        if let Some(r) = self.my_reservation() {
            if self.held_by_other(r.addr) {
                return Err("the client's reserved address is leased to another client");
            }
            return Ok((r.addr, true));
        }
        if self.subnet.only_reservations {
            return Err("subnet answers only reserved clients");
        }
        let mine = self
            .leases
            .iter()
            .filter(|l| l.token == self.mac() && self.free_for_me(l.addr))
            .max_by_key(|l| l.expire_ms);
        if let Some(l) = mine {
            return Ok((l.addr, false));
        }
        if let Some(hint) = self.req.ipv4_option(50).filter(|a| self.free_for_me(*a)) {
            return Ok((hint, false));
        }
        let (start, end) = self.subnet.range.ok_or("subnet has no active range")?;
        let mut blocked: HashSet<u32> = self
            .leases
            .iter()
            .filter(|l| l.active && l.token != self.mac())
            .map(|l| u32::from(l.addr))
            .chain(self.reservations.iter().map(|r| u32::from(r.addr)))
            .collect();
        blocked.extend(self.inbound.local.iter().map(|a| u32::from(*a)));
        blocked.extend(self.known.in_flight.iter().copied());
        blocked.extend([
            u32::from(self.server_id),
            u32::from(self.subnet.net.network()),
            u32::from(self.subnet.net.broadcast()),
        ]);
        // Each step past `start` passes one blocked address, so this is O(blocked).
        let mut candidate = start;
        loop {
            if !blocked.contains(&candidate) {
                return Ok((Ipv4Addr::from(candidate), false));
            }
            if candidate >= end {
                return Err("no free address in the active range");
            }
            candidate += 1;
        }
    }

    fn duration_s(&self, reserved: bool) -> u64 {
        if reserved {
            self.subnet.reserved_s
        } else {
            self.subnet.lease_s
        }
    }

    fn discover(&self) -> Result<Decision, Drop> {
        let (addr, reserved) = self.choose()?;
        let duration = self.duration_s(reserved);
        let hold = duration.min(OFFER_HOLD_S);
        let write = self.lease_write(addr, "OFFER", hold, duration);
        let fields = self.grant_fields(packet::OFFER, addr, None, Some(duration));
        Ok(Decision {
            write: Some(write),
            reply: Some(self.reply(&fields)?),
        })
    }

    fn request(&self) -> Result<Decision, Drop> {
        let header = &self.req.header;
        if let Some(server) = self.req.ipv4_option(54) {
            if !self.is_me(server) {
                return Err("REQUEST for another server's offer");
            }
        }
        let ciaddr = Some(header.ciaddr()).filter(|a| !a.is_unspecified());
        let requested = self
            .req
            .ipv4_option(50)
            .or(ciaddr)
            .ok_or("REQUEST names no address")?;
        let mine = self.my_reservation();
        let granted = if !self.subnet.net.contains(&requested) {
            None
        } else if let Some(r) = mine {
            (r.addr == requested && !self.held_by_other(requested)).then_some(true)
        } else if self.subnet.only_reservations {
            None
        } else {
            self.free_for_me(requested).then_some(false)
        };
        let Some(reserved) = granted else {
            return Ok(Decision {
                write: None,
                reply: Some(self.nak()?),
            });
        };
        let duration = self.duration_s(reserved);
        let write = self.lease_write(requested, "ACK", duration, duration);
        let fields = self.grant_fields(packet::ACK, requested, ciaddr, Some(duration));
        Ok(Decision {
            write: Some(write),
            reply: Some(self.reply(&fields)?),
        })
    }

    fn inform(&self) -> Result<Decision, Drop> {
        let ciaddr = Some(self.req.header.ciaddr()).filter(|a| !a.is_unspecified());
        let ciaddr = ciaddr.ok_or("INFORM without ciaddr")?;
        let mut fields = self.grant_fields(packet::ACK, ciaddr, Some(ciaddr), None);
        fields.yiaddr = None;
        Ok(Decision {
            write: None,
            reply: Some(self.reply(&fields)?),
        })
    }

    /// The client gives its address back: the lease expires now.
    fn release(&self) -> Result<Decision, Drop> {
        self.check_server_id()?;
        let addr = self.req.header.ciaddr();
        let lease = self
            .lease_at(addr)
            .filter(|l| l.token == self.mac() && l.active)
            .ok_or("RELEASE of an address the client does not hold")?;
        let mut object = lease.object.clone();
        set(&mut object, "State", json!("EXPIRE"));
        set(&mut object, "ExpireTime", json!(self.time_after(0)));
        Ok(Decision {
            write: Some(self.replacing(addr, lease, object)),
            reply: None,
        })
    }

    /// The client found the address in use (ARP): as DRP, the lease loses its owner and
    /// keeps the address out of use for a while.
    fn decline(&self) -> Result<Decision, Drop> {
        self.check_server_id()?;
        let addr = self.req.ipv4_option(50).ok_or("DECLINE names no address")?;
        let lease = self
            .lease_at(addr)
            .filter(|l| l.token == self.mac())
            .ok_or("DECLINE of an address the client was not given")?;
        let mut object = lease.object.clone();
        set(&mut object, "Token", json!(""));
        set(&mut object, "State", json!("DECLINE"));
        set(
            &mut object,
            "ExpireTime",
            json!(self.time_after(DECLINE_HOLD_S)),
        );
        Ok(Decision {
            write: Some(self.replacing(addr, lease, object)),
            reply: None,
        })
    }

    /// A server identifier naming this member: the one it answers with, or any of its
    /// addresses on the receiving interface.
    fn is_me(&self, server: Ipv4Addr) -> bool {
        server == self.server_id || self.inbound.local.contains(&server)
    }

    fn check_server_id(&self) -> Result<(), Drop> {
        match self.req.ipv4_option(54) {
            Some(s) if !self.is_me(s) => Err("message for another server"),
            _ => Ok(()),
        }
    }

    fn time_after(&self, seconds: u64) -> String {
        crate::fill::rfc3339(
            self.known
                .now_ms
                .saturating_add(seconds.saturating_mul(1000)),
        )
    }

    fn replacing(&self, addr: Ipv4Addr, lease: &Lease, object: Value) -> LeaseWrite {
        LeaseWrite {
            addr,
            object,
            etag: Some(crate::store::etag(lease.object)),
        }
    }

    /// The lease for `addr` as committed before the OFFER or ACK goes out.
    fn lease_write(&self, addr: Ipv4Addr, state: &str, hold_s: u64, duration_s: u64) -> LeaseWrite {
        let existing = self.lease_at(addr);
        // The same client's record keeps its other fields; another's is started afresh.
        let mut object = match existing {
            Some(l) if l.token == self.mac() => l.object.clone(),
            _ => json!({}),
        };
        let via = match self.req.header.giaddr() {
            g if g.is_unspecified() => self.server_id,
            g => g,
        };
        set(&mut object, "Addr", json!(addr.to_string()));
        set(&mut object, "Token", json!(self.mac()));
        set(&mut object, "Strategy", json!("MAC"));
        set(&mut object, "State", json!(state));
        set(&mut object, "ExpireTime", json!(self.time_after(hold_s)));
        set(&mut object, "Duration", json!(duration_s));
        set(&mut object, "Via", json!(via.to_string()));
        let next = self
            .next_server()
            .map(|a| a.to_string())
            .unwrap_or_default();
        set(&mut object, "NextServer", json!(next));
        LeaseWrite {
            addr,
            object,
            etag: existing.map(|l| crate::store::etag(l.object)),
        }
    }

    fn next_server(&self) -> Option<Ipv4Addr> {
        if self.subnet.unmanaged {
            return None;
        }
        self.my_reservation()
            .and_then(|r| ipv4(r.object, "NextServer"))
            .or_else(|| ipv4(self.subnet.object, "NextServer"))
            .or(self.boot.next_server)
    }

    /// OFFER/ACK contents: addresses, lease times, the configured options (a reservation's
    /// override its subnet's) and the boot file.
    fn grant_fields(
        &self,
        kind: u8,
        addr: Ipv4Addr,
        ciaddr: Option<Ipv4Addr>,
        duration_s: Option<u64>,
    ) -> ReplyFields {
        let mut out: Vec<(u8, Vec<u8>)> = vec![(54, self.server_id.octets().to_vec())];
        if let Some(d) = duration_s {
            let d = d as u32;
            out.push((51, d.to_be_bytes().to_vec()));
            out.push((58, (d / 2).to_be_bytes().to_vec()));
            out.push((59, (d / 8 * 7).to_be_bytes().to_vec()));
        }
        out.push((1, self.subnet.net.netmask().octets().to_vec()));
        let mut configured: BTreeMap<u8, String> = options::configured(self.subnet.object)
            .into_iter()
            .collect();
        if let Some(r) = self.my_reservation() {
            configured.extend(options::configured(r.object));
        }
        let arch = self.req.arch();
        let mut file = None;
        for (code, value) in configured {
            // Ours: the message type, server identifier and lease times.
            if matches!(code, 0 | 51 | 53 | 54 | 58 | 59 | 255) {
                continue;
            }
            let Some(value) = options::render(&value, &self.req.options, arch) else {
                continue;
            };
            if code == 67 {
                file = Some(value.clone());
            }
            if let Some(bytes) = options::encode(code, &value) {
                out.retain(|(c, _)| *c != code);
                out.push((code, bytes));
            }
        }
        if file.is_none() && !self.subnet.unmanaged {
            file = default_boot_file(self.req, &self.boot.provisioner_url, self.known.loaders);
            if let Some(f) = &file {
                out.push((67, f.as_bytes().to_vec()));
            }
        }
        let siaddr = self.next_server();
        if let Some(s) = siaddr {
            out.retain(|(c, _)| *c != 66);
            out.push((66, s.to_string().into_bytes()));
        }
        ReplyFields {
            kind,
            yiaddr: Some(addr),
            ciaddr,
            siaddr,
            file: file.filter(|f| !f.is_empty()),
            options: out,
        }
    }

    fn nak(&self) -> Result<Reply, Drop> {
        let fields = ReplyFields {
            kind: packet::NAK,
            options: vec![(54, self.server_id.octets().to_vec())],
            ..ReplyFields::default()
        };
        self.reply(&fields)
    }

    fn reply(&self, fields: &ReplyFields) -> Result<Reply, Drop> {
        Ok(Reply {
            bytes: packet::encode_reply(self.req, fields)?,
            to: destination(self.req, self.inbound.source, fields.kind == packet::NAK),
            from: self.server_id,
        })
    }
}

fn set(object: &mut Value, field: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(field.to_string(), value);
    }
}

/// DRP's boot file when no option 67 is configured: iPXE gets the provisioner's
/// `default.ipxe` over HTTP, firmware PXE the loader for its machine type (`loaders`).
pub fn default_boot_file(
    req: &Request,
    provisioner_url: &str,
    loaders: &Loaders,
) -> Option<String> {
    if req.is_ipxe() {
        return Some(format!("{provisioner_url}/default.ipxe"));
    }
    let machine_type = MachineType::from_arch(req.arch()?)?;
    Some(loaders.file(machine_type).to_string())
}

/// RFC 2131 4.1, plus one rule for relays' and test tools' benefit: a client that sent
/// from an address and a port other than 68 hears back there (a real client in INIT
/// cannot receive unicast, but it always sends from port 68).
fn destination(req: &Request, source: SocketAddrV4, nak: bool) -> SocketAddrV4 {
    let giaddr = req.header.giaddr();
    if !giaddr.is_unspecified() {
        return SocketAddrV4::new(giaddr, SERVER_PORT);
    }
    if source.port() != CLIENT_PORT && !source.ip().is_unspecified() {
        return source;
    }
    let ciaddr = req.header.ciaddr();
    if !nak && !ciaddr.is_unspecified() {
        return SocketAddrV4::new(ciaddr, CLIENT_PORT);
    }
    SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
}

#[cfg(test)]
mod tests;
