//! The DHCP socket: one UDP socket on all addresses with IP_PKTINFO, so each packet says
//! which interface it came in on (the subnet is chosen by that interface's addresses) and
//! each reply leaves by the same interface, from our address there — which a broadcast to
//! 255.255.255.255 needs. Works unprivileged on a high port (the tests), unlike
//! SO_BINDTODEVICE.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// How long an interface listing is trusted (addresses change: DHCP-assigned, the VIP).
const INTERFACES_TTL: Duration = Duration::from_secs(5);

pub struct DhcpSocket {
    socket: UdpSocket,
}

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub source: SocketAddrV4,
    /// The interface it arrived on (0 when the kernel did not say).
    pub ifindex: u32,
}

impl DhcpSocket {
    /// Binds `0.0.0.0:port`. Must be called inside the tokio runtime.
    pub fn bind(port: u16) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_broadcast(true)?;
        socket.set_nonblocking(true)?;
        set_int_option(socket.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
        Ok(Self {
            socket: UdpSocket::from_std(socket.into())?,
        })
    }

    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let fd = self.socket.as_raw_fd();
        loop {
            self.socket.readable().await?;
            match self
                .socket
                .try_io(Interest::READABLE, || recv_with_pktinfo(fd, buf))
            {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Sends out of interface `ifindex` (0: by the routing table) from address `from`.
    pub async fn send(
        &self,
        bytes: &[u8],
        to: SocketAddrV4,
        ifindex: u32,
        from: Ipv4Addr,
    ) -> io::Result<()> {
        let fd = self.socket.as_raw_fd();
        loop {
            self.socket.writable().await?;
            match self.socket.try_io(Interest::WRITABLE, || {
                send_with_pktinfo(fd, bytes, to, ifindex, from)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

fn set_int_option(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer/length pair describing one c_int.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Room for one `in_pktinfo` control message, 8-byte aligned as cmsg headers need.
type ControlBuf = [u64; 8];

/// A message header over one IPv4 address, one buffer and the first `control_len` bytes of
/// `control`, as both directions build it. It holds raw pointers to the three: the caller
/// keeps them alive and unmoved while the kernel uses the header.
fn message(
    addr: &mut libc::sockaddr_in,
    iov: &mut libc::iovec,
    control: &mut ControlBuf,
    control_len: usize,
) -> libc::msghdr {
    // SAFETY: `msghdr` is plain integers and pointers (and, on some targets, private
    // padding), for which all zeroes is a valid value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (addr as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control_len as _;
    msg
}

fn recv_with_pktinfo(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    // SAFETY: every pointer in `msg` points to a live local of the stated size; the control
    // messages are walked with the libc macros within `msg_controllen`.
    unsafe {
        let mut addr: libc::sockaddr_in = zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control: ControlBuf = [0; 8];
        let mut msg = message(&mut addr, &mut iov, &mut control, size_of::<ControlBuf>());
        let n = libc::recvmsg(fd, &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ifindex = 0;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IP && (*cmsg).cmsg_type == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                ifindex = u32::try_from(info.ipi_ifindex).unwrap_or(0);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        let source = SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
            u16::from_be(addr.sin_port),
        );
        Ok(Received {
            len: (n as usize).min(buf.len()),
            source,
            ifindex,
        })
    }
}

fn send_with_pktinfo(
    fd: RawFd,
    bytes: &[u8],
    to: SocketAddrV4,
    ifindex: u32,
    from: Ipv4Addr,
) -> io::Result<()> {
    // SAFETY: as in `recv_with_pktinfo`; the one control message is written inside
    // `control`, whose size is at least CMSG_SPACE(in_pktinfo).
    unsafe {
        let mut addr: libc::sockaddr_in = zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = to.port().to_be();
        addr.sin_addr.s_addr = u32::from(*to.ip()).to_be();
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        let mut control: ControlBuf = [0; 8];
        let info_len = size_of::<libc::in_pktinfo>() as u32;
        let control_len = libc::CMSG_SPACE(info_len) as usize;
        let msg = message(&mut addr, &mut iov, &mut control, control_len);
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for IP_PKTINFO"));
        }
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(info_len) as _;
        let info = libc::in_pktinfo {
            ipi_ifindex: i32::try_from(ifindex).unwrap_or(0),
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(from).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
        if libc::sendmsg(fd, &msg, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// One interface's IPv4 addresses.
#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub addrs: Vec<Ipv4Addr>,
}

/// A cached listing of the host's interfaces.
#[derive(Default)]
pub struct Interfaces {
    list: Vec<Interface>,
    read_at: Option<Instant>,
}

impl Interfaces {
    /// The interface with this index, re-reading the listing when it is old or lacks it.
    /// Blocking (a netlink dump): call off the async workers.
    pub fn get(&mut self, index: u32) -> Option<Interface> {
        let fresh = self.read_at.is_some_and(|t| t.elapsed() < INTERFACES_TTL);
        if !fresh || !self.list.iter().any(|i| i.index == index) {
            match list_interfaces() {
                Ok(list) => {
                    self.list = list;
                    self.read_at = Some(Instant::now());
                }
                Err(e) => tracing::warn!(error = %e, "listing network interfaces"),
            }
        }
        self.list.iter().find(|i| i.index == index).cloned()
    }
}

fn list_interfaces() -> io::Result<Vec<Interface>> {
    let mut out: Vec<Interface> = Vec::new();
    // SAFETY: getifaddrs' list is walked read-only and freed once; names are C strings.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            if i32::from((*ifa.ifa_addr).sa_family) != libc::AF_INET {
                continue;
            }
            let sin: libc::sockaddr_in = std::ptr::read_unaligned(ifa.ifa_addr.cast());
            let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .into_owned();
            let index = libc::if_nametoindex(ifa.ifa_name);
            match out.iter_mut().find(|i| i.index == index) {
                Some(i) => i.addrs.push(addr),
                None => out.push(Interface {
                    name,
                    index,
                    addrs: vec![addr],
                }),
            }
        }
        libc::freeifaddrs(head);
    }
    Ok(out)
}
