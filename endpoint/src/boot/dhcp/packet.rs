//! Reading a client's packet and encoding our reply.
//!
//! The fixed BOOTP header is decoded with `dhcproto`; the options are walked here instead,
//! because dhcproto's option decoder trips `debug_assert!`s and length underflows on some
//! malformed options (a panic in debug builds). The walk is bounded by the packet's length.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use dhcproto::v4::{self, DhcpOption, DhcpOptions, Flags, HType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};

/// BOOTP's fixed part plus the magic cookie.
const HEADER_LEN: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// Larger than any Ethernet frame; the rest of a longer datagram is ignored.
pub const MAX_PACKET: usize = 4096;

/// DHCP message types (option 53).
pub const DISCOVER: u8 = 1;
pub const OFFER: u8 = 2;
pub const REQUEST: u8 = 3;
pub const DECLINE: u8 = 4;
pub const ACK: u8 = 5;
pub const NAK: u8 = 6;
pub const RELEASE: u8 = 7;
pub const INFORM: u8 = 8;

/// What we read from a client's packet.
#[derive(Debug, Clone)]
pub struct Request {
    pub header: v4::Message,
    /// The client's MAC, as DRP's `MAC` strategy token (`aa:bb:cc:dd:ee:ff`).
    pub mac: String,
    pub kind: u8,
    /// Option code → value (repeated codes concatenated, RFC 3396).
    pub options: BTreeMap<u8, Vec<u8>>,
}

impl Request {
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options.get(&code).map(Vec::as_slice)
    }

    pub fn ipv4_option(&self, code: u8) -> Option<Ipv4Addr> {
        let b: [u8; 4] = self.option(code)?.try_into().ok()?;
        Some(Ipv4Addr::from(b)).filter(|a| !a.is_unspecified())
    }

    /// Option 93: the PXE client's architecture.
    pub fn arch(&self) -> Option<u16> {
        match self.option(93)? {
            [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// Option 77 as text. iPXE sends its class bare ("iPXE"); RFC 3004 clients send
    /// length-prefixed entries, which are joined with ','.
    pub fn user_class(&self) -> String {
        let Some(raw) = self.option(77) else {
            return String::new();
        };
        if raw.first().is_some_and(|&n| n as usize + 1 == raw.len()) {
            return String::from_utf8_lossy(&raw[1..]).into_owned();
        }
        String::from_utf8_lossy(raw).into_owned()
    }

    pub fn is_ipxe(&self) -> bool {
        let class = self.user_class();
        class == "iPXE" || class.split(',').any(|c| c == "iPXE")
    }
}

/// Decodes a client's packet; `Err` says why it is dropped.
pub fn parse(bytes: &[u8]) -> Result<Request, &'static str> {
    if bytes.len() < HEADER_LEN {
        return Err("shorter than a BOOTP header");
    }
    if bytes[236..240] != MAGIC {
        return Err("no DHCP magic cookie");
    }
    // Only the header goes to dhcproto: its option decoder is not panic-free.
    let header = v4::Message::from_bytes(&bytes[..HEADER_LEN]).map_err(|_| "bad header")?;
    if header.opcode() != Opcode::BootRequest {
        return Err("not a BOOTREQUEST");
    }
    // `chaddr()` slices by hlen and would panic past 16; DRP's MAC strategy needs Ethernet.
    if header.htype() != HType::Eth || header.hlen() != 6 {
        return Err("not an Ethernet hardware address");
    }
    let mac = header
        .chaddr()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let options = parse_options(&bytes[HEADER_LEN..bytes.len().min(MAX_PACKET)])?;
    let kind = match options.get(&53).map(Vec::as_slice) {
        Some([k]) => *k,
        _ => return Err("no DHCP message type"),
    };
    Ok(Request {
        header,
        mac,
        kind,
        options,
    })
}

/// Walks the option TLVs up to End (or the end of the buffer).
fn parse_options(mut rest: &[u8]) -> Result<BTreeMap<u8, Vec<u8>>, &'static str> {
    let mut options: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
    while let Some((&code, tail)) = rest.split_first() {
        match code {
            0 => rest = tail,
            255 => break,
            _ => {
                let (&len, tail) = tail.split_first().ok_or("truncated option")?;
                let len = len as usize;
                if tail.len() < len {
                    return Err("option longer than the packet");
                }
                options
                    .entry(code)
                    .or_default()
                    .extend_from_slice(&tail[..len]);
                rest = &tail[len..];
            }
        }
    }
    Ok(options)
}

/// The reply's header fields beyond what is copied from the request.
#[derive(Debug, Clone, Default)]
pub struct ReplyFields {
    pub kind: u8,
    pub yiaddr: Option<Ipv4Addr>,
    pub ciaddr: Option<Ipv4Addr>,
    pub siaddr: Option<Ipv4Addr>,
    /// The `file` header field (written only when it fits its 128 bytes).
    pub file: Option<String>,
    /// Options in the order given (code, value), beyond message type.
    pub options: Vec<(u8, Vec<u8>)>,
}

/// Encodes a reply to `req`.
pub fn encode_reply(req: &Request, fields: &ReplyFields) -> Result<Vec<u8>, &'static str> {
    let h = &req.header;
    let mut m = v4::Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_htype(h.htype())
        .set_chaddr(h.chaddr())
        .set_xid(h.xid())
        .set_flags(if h.flags().broadcast() {
            Flags::new(0).set_broadcast()
        } else {
            Flags::new(0)
        })
        .set_giaddr(h.giaddr())
        .set_ciaddr(fields.ciaddr.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .set_yiaddr(fields.yiaddr.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .set_siaddr(fields.siaddr.unwrap_or(Ipv4Addr::UNSPECIFIED));
    if let Some(file) = fields.file.as_deref().filter(|f| f.len() < 128) {
        m.set_fname_str(file);
    }
    let mut opts = DhcpOptions::new();
    opts.insert(DhcpOption::MessageType(fields.kind.into()));
    for (code, value) in &fields.options {
        // 0 and 255 are framing, 53 is set above, 82 is echoed last below.
        if matches!(code, 0 | 53 | 82 | 255) {
            continue;
        }
        opts.insert(DhcpOption::Unknown(v4::UnknownOption::new(
            OptionCode::from(*code),
            value.clone(),
        )));
    }
    m.set_opts(opts);
    let mut bytes = m.to_vec().map_err(|_| "reply does not encode")?;
    // RFC 3046: a relay's agent information comes back unchanged, as the last option.
    if let Some(relay) = req.option(82) {
        if bytes.last() == Some(&255) {
            bytes.pop();
            for chunk in relay.chunks(255) {
                bytes.push(82);
                bytes.push(chunk.len() as u8);
                bytes.extend_from_slice(chunk);
            }
            bytes.push(255);
        }
    }
    Ok(bytes)
}
