//! The generator's shape options: how names are rendered, the topology's shape and the set of
//! campaigns. Each has a default that reproduces the original generator byte for byte.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a fieldless option enum with its command-line spellings, parsing and display.
macro_rules! option_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $spelling:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The command-line spelling.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $spelling,)+
                }
            }

            /// Whether this is the default (left out of `scenario.json` then).
            pub fn is_default(&self) -> bool {
                *self == $name::default()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name().eq_ignore_ascii_case(s))
                    .ok_or_else(|| {
                        let all: Vec<&str> = $name::ALL.iter().map(|v| v.name()).collect();
                        format!("`{s}` is not one of {}", all.join(", "))
                    })
            }
        }
    };
}

option_enum! {
    /// How host and account names are written. Rendering names is the last step: the same seed
    /// and options give the same events under every style, only the names differ.
    NameStyle {
        /// Names that say what a host or account is for (`PROD-DB-02`, `svc_sql_app`, `WS-0031`).
        #[default]
        Descriptive = "descriptive",
        /// LANL style: hosts `C<number>` (numbers drawn at random, unrelated to role), computer
        /// accounts `C<number>$`, people and administrators `U<number>`; service accounts keep
        /// their descriptive names.
        Anonymized = "anonymized",
        /// As `anonymized`, and service accounts too: `svc_<number>`, `sa-<number>`,
        /// `system:serviceaccount:n<number>:s<number>` (still recognisable as machine identities,
        /// saying nothing of their function).
        AnonymizedAll = "anonymized-all",
    }
}

option_enum! {
    /// The enterprise's shape.
    Topology {
        /// Production, staging and development tiers with their environment in the host names
        /// (`PROD-WEB-03`, `STG-DB-01`, `DEV-APP-02`), CI runners per environment.
        #[default]
        Tiered = "tiered",
        /// No staging tier and no environment in any name: test servers are numbered with the
        /// production ones (`APP-11`), other counts and fan-in (fewer databases shared by more
        /// application servers, more workstations), Kubernetes accounts `sa-<app>`.
        Flat = "flat",
    }
}

option_enum! {
    /// Which attack campaigns are injected (and, for `extended`, which benign changes happen).
    CampaignSet {
        /// One campaign of each of the eight original kinds.
        #[default]
        Classic = "classic",
        /// Two variants of each original kind, the four newer kinds, and benign changes that a
        /// naive detector would flag.
        Extended = "extended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_values_are_refused() {
        for &n in NameStyle::ALL {
            assert_eq!(n.name().parse::<NameStyle>(), Ok(n));
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(json, format!("\"{}\"", n.name()));
        }
        assert_eq!("FLAT".parse::<Topology>(), Ok(Topology::Flat));
        assert_eq!("extended".parse::<CampaignSet>(), Ok(CampaignSet::Extended));
        let err = "anonymised".parse::<NameStyle>().unwrap_err();
        assert!(
            err.contains("descriptive, anonymized, anonymized-all"),
            "{err}"
        );
        assert!(NameStyle::default().is_default() && !Topology::Flat.is_default());
    }
}
