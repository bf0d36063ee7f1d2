//! A TLS key log (the NSS format every client here writes: `LABEL
//! client_random secret`, in hex), as the secrets of each connection.

use std::collections::HashMap;

/// One connection's TLS 1.3 traffic secrets, by what they protect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub client_early: Option<Vec<u8>>,
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    pub client_1rtt: Option<Vec<u8>>,
    pub server_1rtt: Option<Vec<u8>>,
}

/// The secrets of every connection in `text`, by ClientHello random.
pub fn parse(text: &str) -> HashMap<Vec<u8>, Secrets> {
    let mut out: HashMap<Vec<u8>, Secrets> = HashMap::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(label), Some(random), Some(secret)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let (Some(random), Some(secret)) = (hex(random), hex(secret)) else {
            continue;
        };
        let s = out.entry(random).or_default();
        let slot = match label {
            "CLIENT_EARLY_TRAFFIC_SECRET" => &mut s.client_early,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut s.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut s.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut s.client_1rtt,
            "SERVER_TRAFFIC_SECRET_0" => &mut s.server_1rtt,
            _ => continue,
        };
        *slot = Some(secret);
    }
    out
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_filed_under_their_client_random() {
        let log = "CLIENT_HANDSHAKE_TRAFFIC_SECRET 0a0b 0102\n\
                   SERVER_TRAFFIC_SECRET_0 0a0b 0304\n\
                   # a comment\n\
                   CLIENT_RANDOM 0a0b 05\n\
                   CLIENT_TRAFFIC_SECRET_0 zz 01\n";
        let all = parse(log);
        assert_eq!(all.len(), 1);
        let s = &all[&vec![0x0a, 0x0b]];
        assert_eq!(s.client_handshake, Some(vec![1, 2]));
        assert_eq!(s.server_1rtt, Some(vec![3, 4]));
        assert_eq!(s.client_1rtt, None);
    }
}
