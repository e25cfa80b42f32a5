//! Where everything listens: fixed loopback ports, so the URLs in a walkthrough stay the
//! same from one run to the next.
//!
//! Every port is `--base-port` (default 4100) plus a fixed offset, except the host's, which
//! is `--listen`. Before anything starts, [`SandboxPorts::check_free`] tries each address
//! and names every busy one, so a second sandbox (or anything else on those ports) is
//! reported in one message instead of failing half-way through start-up.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use thiserror::Error;

/// One listener of the sandbox: what it stands for, and where it listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// What it is, for people ("Tumblr www (www.tumblr.com)").
    pub role: &'static str,
    /// Its address.
    pub addr: SocketAddr,
}

impl Slot {
    /// `http://<addr>`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The offsets from the base port, in the order the walkthrough lists them.
const LAYOUT: [&str; 12] = [
    "front-end page (frontend_url)",
    "Bluesky entryway (bsky.social)",
    "Bluesky fleet PDS (*.host.bsky.network)",
    "Bluesky independent PDS",
    "PLC directory (plc.directory)",
    "Tumblr www (www.tumblr.com)",
    "Tumblr API (api.tumblr.com)",
    "Facebook Login dialog (www.facebook.com)",
    "Graph API (graph.facebook.com)",
    "Threads authorization (threads.net)",
    "Threads API (graph.threads.net)",
    "Mastodon instance",
];

/// Every address the sandbox listens on.
#[derive(Debug, Clone)]
pub struct SandboxPorts {
    /// The host serving the connectors.
    pub host: Slot,
    /// The front-end stand-in, then the doubles, in [`LAYOUT`] order.
    slots: [Slot; LAYOUT.len()],
}

/// The base port leaves no room for the fixed offsets.
#[derive(Debug, Error)]
#[error("--base-port {0} is too high: the sandbox needs {len} ports from it", len = LAYOUT.len())]
pub struct BasePortTooHigh(u16);

/// Some addresses are taken.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct PortsBusy(String);

impl SandboxPorts {
    /// The layout for the host on `host` and everything else from `base_port` on
    /// `127.0.0.1`.
    pub fn new(host: SocketAddr, base_port: u16) -> Result<Self, BasePortTooHigh> {
        let last_offset =
            u16::try_from(LAYOUT.len() - 1).map_err(|_| BasePortTooHigh(base_port))?;
        if base_port.checked_add(last_offset).is_none() {
            return Err(BasePortTooHigh(base_port));
        }
        let mut port = base_port;
        let slots = LAYOUT.map(|role| {
            let slot = Slot {
                role,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            };
            port = port.saturating_add(1);
            slot
        });
        Ok(Self {
            host: Slot {
                role: "hayon-host (the connectors)",
                addr: host,
            },
            slots,
        })
    }

    /// The page the host's callbacks redirect to.
    pub fn frontend(&self) -> Slot {
        self.slots[0]
    }
    /// The Bluesky entryway (`bluesky_service_url`).
    pub fn bluesky_entryway(&self) -> Slot {
        self.slots[1]
    }
    /// The fleet PDS named in the entryway accounts' DID documents.
    pub fn bluesky_fleet_pds(&self) -> Slot {
        self.slots[2]
    }
    /// The independent PDS.
    pub fn bluesky_independent_pds(&self) -> Slot {
        self.slots[3]
    }
    /// The PLC directory (`bluesky_plc_url`).
    pub fn plc(&self) -> Slot {
        self.slots[4]
    }
    /// Tumblr's www host (`tumblr_www_url`).
    pub fn tumblr_www(&self) -> Slot {
        self.slots[5]
    }
    /// Tumblr's API host (`tumblr_api_url`).
    pub fn tumblr_api(&self) -> Slot {
        self.slots[6]
    }
    /// The Facebook Login dialog host (`meta_dialog_url`).
    pub fn meta_dialog(&self) -> Slot {
        self.slots[7]
    }
    /// The Graph API host (`meta_graph_url`).
    pub fn meta_graph(&self) -> Slot {
        self.slots[8]
    }
    /// The Threads authorization window host (`threads_authorize_url`).
    pub fn threads_authorize(&self) -> Slot {
        self.slots[9]
    }
    /// The Threads API host (`threads_graph_url`).
    pub fn threads_graph(&self) -> Slot {
        self.slots[10]
    }
    /// The Mastodon instance (`mastodon_instance_url`).
    pub fn mastodon(&self) -> Slot {
        self.slots[11]
    }

    /// Every slot, the host first.
    pub fn all(&self) -> impl Iterator<Item = Slot> + '_ {
        std::iter::once(self.host).chain(self.slots.iter().copied())
    }

    /// Tries to bind every address once; names each one that is taken, with what to do.
    pub fn check_free(&self) -> Result<(), PortsBusy> {
        let mut busy = String::new();
        for slot in self.all() {
            if let Err(error) = TcpListener::bind(slot.addr) {
                let _ = writeln!(busy, "  {} for the {}: {error}", slot.addr, slot.role);
            }
        }
        if busy.is_empty() {
            return Ok(());
        }
        Err(PortsBusy(format!(
            "these addresses are not free:\n{busy}Is another sandbox running? Stop it, or \
             move the host with --listen and everything else with --base-port."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_base_port_and_stay_apart_from_the_host() {
        let host = SocketAddr::from(([127, 0, 0, 1], 3000));
        let ports = SandboxPorts::new(host, 4100).unwrap();
        assert_eq!(ports.frontend().addr.port(), 4100);
        assert_eq!(ports.bluesky_entryway().addr.port(), 4101);
        assert_eq!(ports.mastodon().addr.port(), 4111);
        let mut seen: Vec<u16> = ports.all().map(|slot| slot.addr.port()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len(),
            LAYOUT.len() + 1,
            "every listener has its own port"
        );
    }

    #[test]
    fn a_base_port_without_room_is_refused() {
        let host = SocketAddr::from(([127, 0, 0, 1], 3000));
        assert!(SandboxPorts::new(host, u16::MAX - 3).is_err());
    }

    #[test]
    fn a_taken_port_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = taken.local_addr().unwrap();
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        // Far from the taken port, so the layout does not overlap it by chance.
        let base = free.local_addr().unwrap().port();
        drop(free);
        let ports = SandboxPorts::new(host, base.saturating_sub(20)).unwrap();
        let message = ports.check_free().unwrap_err().to_string();
        assert!(message.contains(&host.to_string()), "{message}");
        assert!(message.contains("hayon-host"), "{message}");
    }
}
