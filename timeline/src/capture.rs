//! A capture of UDP datagrams as a pcap file (link type RAW: IPv4 or IPv6
//! headers made up around each datagram), for Wireshark, and read back.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;

pub struct Pcap<W: Write> {
    writer: PcapWriter<W>,
}

impl<W: Write> Pcap<W> {
    pub fn new(out: W) -> Result<Pcap<W>, pcap_file::PcapError> {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ..Default::default()
        };
        Ok(Pcap {
            writer: PcapWriter::with_header(out, header)?,
        })
    }

    /// One datagram from `from` to `to`, timestamped now.
    pub fn datagram(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.datagram_at(SystemTime::now(), from, to, data);
    }

    /// One datagram from `from` to `to`, seen `at` (written later by
    /// another thread than the one that saw it).
    pub fn datagram_at(&mut self, at: SystemTime, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let packet = ip_udp(from, to, data);
        let ts = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let _ = self
            .writer
            .write_packet(&PcapPacket::new(ts, packet.len() as u32, &packet));
    }

    /// Flushes and closes the capture.
    pub fn finish(self) {
        let _ = self.writer.into_writer().flush();
    }
}

/// `data` in a UDP datagram in an IP packet from `from` to `to`. Mixed
/// families (never the case on one socket) are written as IPv6 with
/// IPv4-mapped addresses.
pub fn ip_udp(from: SocketAddr, to: SocketAddr, data: &[u8]) -> Vec<u8> {
    let udp_len = 8 + data.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&from.port().to_be_bytes());
    udp.extend_from_slice(&to.port().to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]); // checksum: none (Wireshark does not insist)
    udp.extend_from_slice(data);
    match (from.ip(), to.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + udp_len) as u16;
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            ip.extend_from_slice(&udp);
            ip
        }
        (s, d) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
            ip.extend_from_slice(&[17, 64]);
            ip.extend_from_slice(&v6(s).octets());
            ip.extend_from_slice(&v6(d).octets());
            ip.extend_from_slice(&udp);
            ip
        }
    }
}

/// One datagram of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Since the Unix epoch, as the capture stamped it.
    pub at: Duration,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

/// Every UDP datagram of a capture with link type RAW, in order. A capture
/// cut short (at a size cap) gives what precedes the cut.
pub fn read(capture: &[u8]) -> Result<Vec<Captured>, pcap_file::PcapError> {
    let mut reader = PcapReader::new(capture)?;
    let mut out = Vec::new();
    while let Some(Ok(packet)) = reader.next_packet() {
        if let Some((from, to, data)) = udp_of(&packet.data) {
            out.push(Captured {
                at: packet.timestamp,
                from,
                to,
                data: data.to_vec(),
            });
        }
    }
    Ok(out)
}

/// The addresses and payload of an IPv4 or IPv6 packet carrying UDP.
fn udp_of(ip: &[u8]) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    let (src, dst, udp): (IpAddr, IpAddr, &[u8]) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let octets = |at: usize| -> Option<[u8; 4]> { ip.get(at..at + 4)?.try_into().ok() };
            (octets(12)?.into(), octets(16)?.into(), ip.get(ihl..)?)
        }
        6 => {
            let octets = |at: usize| -> Option<[u8; 16]> { ip.get(at..at + 16)?.try_into().ok() };
            let v6 = |o: [u8; 16]| {
                let a = std::net::Ipv6Addr::from(o);
                a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)
            };
            (v6(octets(8)?), v6(octets(24)?), ip.get(40..)?)
        }
        _ => return None,
    };
    let port = |at: usize| Some(u16::from_be_bytes(udp.get(at..at + 2)?.try_into().ok()?));
    let len = usize::from(port(4)?);
    let data = udp.get(8..len.max(8))?;
    Some((
        SocketAddr::new(src, port(0)?),
        SocketAddr::new(dst, port(2)?),
        data,
    ))
}

/// The Internet checksum of an IPv4 header (RFC 791).
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_headers_carry_a_valid_checksum_and_the_ports() {
        let p = ip_udp(
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.2:443".parse().unwrap(),
            b"hello",
        );
        assert_eq!(p.len(), 20 + 8 + 5);
        assert_eq!(
            checksum(&p[..20]),
            0,
            "a header with its checksum sums to 0"
        );
        assert_eq!(&p[20..24], &[0x13, 0x88, 0x01, 0xbb]);
        assert_eq!(&p[28..], b"hello");
    }

    #[test]
    fn a_capture_reads_back_with_the_raw_link_type() {
        let mut buf = Vec::new();
        {
            let mut pcap = Pcap::new(&mut buf).unwrap();
            pcap.datagram("[::1]:1".parse().unwrap(), "[::1]:2".parse().unwrap(), b"x");
        }
        let mut reader = pcap_file::pcap::PcapReader::new(&buf[..]).unwrap();
        assert_eq!(reader.header().datalink, DataLink::RAW);
        let packet = reader.next_packet().unwrap().unwrap();
        assert_eq!(packet.data.len(), 40 + 8 + 1);
        assert_eq!(packet.data[0] >> 4, 6);
    }

    #[test]
    fn datagrams_read_back_with_their_addresses_in_both_families() {
        let mut buf = Vec::new();
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.2:443".parse().unwrap(),
        );
        let (c, d): (SocketAddr, SocketAddr) =
            ("[::1]:7".parse().unwrap(), "[::1]:8".parse().unwrap());
        {
            let mut pcap = Pcap::new(&mut buf).unwrap();
            pcap.datagram(a, b, b"hello");
            pcap.datagram(d, c, b"");
            pcap.finish();
        }
        let got = read(&buf).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].from, got[0].to, &got[0].data[..]),
            (a, b, &b"hello"[..])
        );
        assert_eq!((got[1].from, got[1].to, got[1].data.len()), (d, c, 0));
        assert!(read(&buf[..buf.len() - 3]).unwrap().len() == 1, "cut short");
        assert!(read(b"not a pcap").is_err());
    }
}
