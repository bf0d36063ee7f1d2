//! The version_information transport parameter (RFC 9368 §3): a client's,
//! built, and any, read with the rules a receiver applies to it.

/// The transport parameter's id.
pub const ID: u64 = 0x11;

/// What a version_information parameter says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInformation {
    /// The version of the packet that carries it.
    pub chosen: u32,
    /// The versions its sender speaks, most preferred first.
    pub available: Vec<u32>,
}

impl VersionInformation {
    /// A client's: `chosen` (the version of its first flight) first among
    /// `also` in its available versions, as RFC 9368 §3 requires ("When
    /// sent by a client, the Available Versions field [...] MUST include
    /// the Chosen Version").
    pub fn client(chosen: u32, also: &[u32]) -> VersionInformation {
        let mut available = vec![chosen];
        available.extend(also.iter().filter(|&&v| v != chosen));
        VersionInformation { chosen, available }
    }

    /// The parameter's value on the wire: Chosen Version, then each
    /// Available Version, 32 bits each.
    pub fn encode(&self) -> Vec<u8> {
        std::iter::once(self.chosen)
            .chain(self.available.iter().copied())
            .flat_map(u32::to_be_bytes)
            .collect()
    }

    /// Reads a value sent by a client, with the checks whose failure RFC
    /// 9368 §3 and §4 make a TRANSPORT_PARAMETER_ERROR: a length that is
    /// not a multiple of 4 or leaves no Chosen Version, a Chosen Version of
    /// 0, an Available Version of 0, or (from a client) Available Versions
    /// without the Chosen Version.
    pub fn parse_from_client(value: &[u8]) -> Result<VersionInformation, String> {
        if value.is_empty() || !value.len().is_multiple_of(4) {
            return Err(format!(
                "{} bytes: not a Chosen Version and whole Available Versions",
                value.len()
            ));
        }
        let mut versions = value
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        let chosen = versions.next().expect("at least 4 bytes");
        let available: Vec<u32> = versions.collect();
        if chosen == 0 {
            return Err("the Chosen Version is 0".into());
        }
        if available.contains(&0) {
            return Err("an Available Version is 0".into());
        }
        if !available.contains(&chosen) {
            return Err(format!(
                "the Available Versions {available:#x?} do not include the Chosen Version {chosen:#x}"
            ));
        }
        Ok(VersionInformation { chosen, available })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{VERSION_1, VERSION_2};

    #[test]
    fn a_client_lists_its_chosen_version_first_among_the_available_ones() {
        let info = VersionInformation::client(VERSION_2, &[VERSION_1]);
        assert_eq!(info.available, [VERSION_2, VERSION_1]);
        let wire = info.encode();
        assert_eq!(wire.len(), 12);
        assert_eq!(&wire[..4], &VERSION_2.to_be_bytes());
        assert_eq!(VersionInformation::parse_from_client(&wire), Ok(info));
        // The chosen version named again in `also` is not listed twice.
        let again = VersionInformation::client(VERSION_2, &[VERSION_2, VERSION_1]);
        assert_eq!(again.available, [VERSION_2, VERSION_1]);
    }

    #[test]
    fn a_client_s_list_without_its_chosen_version_is_refused() {
        // Chosen 2, available [1]: what the harness once sent.
        let wire = [VERSION_2.to_be_bytes(), VERSION_1.to_be_bytes()].concat();
        let err = VersionInformation::parse_from_client(&wire).unwrap_err();
        assert!(err.contains("do not include the Chosen Version"), "{err}");
    }

    #[test]
    fn lengths_and_zero_versions_are_refused() {
        let parse = VersionInformation::parse_from_client;
        assert!(parse(&[]).is_err());
        assert!(parse(&[0, 0, 0, 1, 0, 0]).is_err());
        assert!(parse(&[0; 8]).unwrap_err().contains("Chosen Version is 0"));
        let zero_listed = [1u32, 1, 0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<_>>();
        assert!(parse(&zero_listed)
            .unwrap_err()
            .contains("Available Version is 0"));
    }
}
