//! Naming the device datapaths this workspace ships, for flags and labs.

use core::fmt;
use core::str::FromStr;

/// Which device datapath moves the frames: the flag value of the
/// binaries' `--datapath` and the lab's choice of wiring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DatapathKind {
    /// Linux tap devices (`lb-datapath-tap`), created or attached by name.
    #[default]
    Tap,
    /// Existing interfaces, NICs or veths, through AF_PACKET
    /// (`lb-datapath-pnet`).
    Pnet,
}

impl DatapathKind {
    /// Every kind, in the order flags list them.
    pub const ALL: [DatapathKind; 2] = [DatapathKind::Tap, DatapathKind::Pnet];

    /// The flag value: `tap` or `pnet`.
    pub fn name(self) -> &'static str {
        match self {
            DatapathKind::Tap => "tap",
            DatapathKind::Pnet => "pnet",
        }
    }
}

impl fmt::Display for DatapathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A datapath name that is neither `tap` nor `pnet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDatapath(pub String);

impl fmt::Display for UnknownDatapath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown datapath {:?}: expected tap or pnet", self.0)
    }
}

impl std::error::Error for UnknownDatapath {}

impl FromStr for DatapathKind {
    type Err = UnknownDatapath;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatapathKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| UnknownDatapath(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in DatapathKind::ALL {
            assert_eq!(kind.name().parse::<DatapathKind>(), Ok(kind));
        }
        assert_eq!(
            "xdp".parse::<DatapathKind>().map_err(|e| e.to_string()),
            Err("unknown datapath \"xdp\": expected tap or pnet".to_owned())
        );
    }
}
