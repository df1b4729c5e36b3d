//! Host roles from behaviour: what kind of host it is, judged by who logs on to it and how, and
//! where it goes, never by its name.

use serde::{Deserialize, Serialize};

/// What a host is used as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// People log on at its console, and it reaches more hosts than reach it.
    Workstation,
    /// Network logons come in from several identities.
    Server,
    /// Authentication hub: it receives ticket traffic (a domain controller, a KDC).
    Hub,
    /// Remote-interactive logons come in, and logons go out to several hosts.
    JumpHost,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Workstation, Role::Server, Role::Hub, Role::JumpHost];

    /// Bit for role masks.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    /// Name used in explanations.
    pub fn name(self) -> &'static str {
        match self {
            Role::Workstation => "workstation-like",
            Role::Server => "server-like",
            Role::Hub => "hub-like",
            Role::JumpHost => "jump-host-like",
        }
    }

    /// The names of the roles in a mask, joined by ", ".
    pub fn names(mask: u8) -> String {
        let names: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| mask & r.bit() != 0)
            .map(|r| r.name())
            .collect();
        names.join(", ")
    }
}

/// How a host is used, counted as events arrive (a few additions per authentication).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostActivity {
    /// Interactive logons by people at the host itself.
    pub console: u32,
    /// Remote-interactive logons into the host from another host.
    pub remote_in: u32,
    /// Kerberos ticket requests (TGT, TGS) the host received.
    pub tickets: u32,
}

/// What a host's role is judged from.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoleEvidence {
    /// Its activity counters.
    pub activity: HostActivity,
    /// Distinct identities that reached it.
    pub identities_in: u32,
    /// Distinct hosts it reached (authentications and flows).
    pub reaches: u32,
}

/// Fewest ticket requests that make a hub, whatever the share.
const HUB_MIN_TICKETS: u64 = 10;
/// Fewest remote-interactive logons in (and hosts reached) that make a jump host.
const JUMP_MIN: u32 = 2;
/// Fewest console logons by people that make a workstation.
const WORKSTATION_MIN_CONSOLE: u32 = 2;

/// Ticket requests a host must receive to be a hub, given all ticket requests seen: at least
/// 1 % of them.
pub fn hub_min_tickets(total_tickets: u64) -> u64 {
    HUB_MIN_TICKETS.max(total_tickets / 100)
}

/// The role of a host, if its behaviour shows one. Checked in order: hub, jump host,
/// workstation, server.
pub fn role_of(e: &RoleEvidence, hub_min: u64) -> Option<Role> {
    let a = e.activity;
    if u64::from(a.tickets) >= hub_min {
        Some(Role::Hub)
    } else if a.remote_in >= JUMP_MIN && e.reaches >= JUMP_MIN {
        Some(Role::JumpHost)
    } else if a.console >= WORKSTATION_MIN_CONSOLE && e.reaches >= e.identities_in {
        Some(Role::Workstation)
    } else if e.identities_in >= 2 {
        Some(Role::Server)
    } else {
        None
    }
}
