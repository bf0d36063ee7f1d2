//! A capture of UDP datagrams as a pcap file (link type RAW: IPv4 or IPv6
//! headers made up around each datagram), for Wireshark.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
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
        let packet = ip_udp(from, to, data);
        let ts = SystemTime::now()
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
}
