//! The agent's netlink side (rtnetlink): find the interface, read back what the agent owns on
//! it, apply a plan. Ownership is the agent's protocol number, set on everything it creates —
//! `IFA_PROTO` on addresses (Linux 5.18+), the route protocol on routes, `NDA_PROTOCOL` on
//! neighbour entries — and read back on every resync, so it never touches what it did not
//! create (Calico Felix tags its routes the same way).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use ipnetwork::Ipv4Network;
use prescient_topology::MacAddr;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage, AddressProtocol};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, RouteMessageBuilder};

use super::plan::{Change, HostState};

/// Why a netlink call failed, naming what was asked.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The interface is not there (yet).
    #[error("interface {0:?} does not exist on this host (network namespace)")]
    NoInterface(String),
    /// A netlink request failed.
    #[error("netlink: {what}: {source}")]
    Netlink {
        /// What was asked.
        what: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> KernelError {
    let what = what.into();
    move |source| KernelError::Netlink { what, source }
}

/// The agent's view of one interface: what it owns there, with the kernel's messages to
/// delete them by.
#[derive(Debug, Default)]
pub struct Owned {
    /// As plain state, for the plan.
    pub state: HostState,
    addresses: BTreeMap<Ipv4Addr, AddressMessage>,
    routes: BTreeMap<Ipv4Network, RouteMessage>,
    neighbours: BTreeMap<Ipv4Addr, NeighbourMessage>,
}

/// Netlink access for one interface and protocol number.
#[derive(Debug, Clone)]
pub struct Kernel {
    handle: Handle,
    interface: String,
    proto: u8,
    metric: u32,
}

impl Kernel {
    /// Opens a netlink connection (its task runs on the current runtime).
    pub fn connect(interface: &str, proto: u8, metric: u32) -> std::io::Result<Kernel> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Kernel {
            handle,
            interface: interface.to_string(),
            proto,
            metric,
        })
    }

    /// The interface's index.
    pub async fn index(&self) -> Result<u32, KernelError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(self.interface.clone())
            .execute();
        match links.try_next().await {
            Ok(Some(l)) => Ok(l.header.index),
            // ENODEV: no such interface.
            Ok(None) | Err(rtnetlink::Error::NetlinkError(_)) => {
                Err(KernelError::NoInterface(self.interface.clone()))
            }
            Err(e) => Err(nl(format!("looking up interface {}", self.interface))(e)),
        }
    }

    /// What the agent owns on the interface now.
    pub async fn owned(&self, index: u32) -> Result<Owned, KernelError> {
        let mut out = Owned::default();
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(m) = addrs.try_next().await.map_err(nl("reading addresses"))? {
            let ours = m
                .attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Protocol(AddressProtocol::Other(p)) if *p == self.proto));
            let ip = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip))
                | AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            if let (true, Some(ip), true) = (ours, ip, m.header.index == index) {
                out.state.addresses.insert(ip);
                out.addresses.insert(ip, m);
            }
        }
        let mut routes = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        while let Some(m) = routes.try_next().await.map_err(nl("reading routes"))? {
            if m.header.protocol != RouteProtocol::Other(self.proto)
                || m.header.table != RouteHeader::RT_TABLE_MAIN
                || !m.attributes.contains(&RouteAttribute::Oif(index))
            {
                continue;
            }
            let dst = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            let net = Ipv4Network::new(
                dst.unwrap_or(Ipv4Addr::UNSPECIFIED),
                m.header.destination_prefix_length,
            );
            if let Ok(net) = net {
                out.state.routes.insert(net);
                out.routes.insert(net, m);
            }
        }
        let mut neigh = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet)
            .execute();
        while let Some(m) = neigh.try_next().await.map_err(nl("reading neighbours"))? {
            let ours = m.header.ifindex == index
                && m.attributes
                    .contains(&NeighbourAttribute::Protocol(RouteProtocol::Other(
                        self.proto,
                    )));
            let ip = m.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            let mac = m.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::LinkLayerAddress(l) => <[u8; 6]>::try_from(l.as_slice()).ok(),
                _ => None,
            });
            if let (true, Some(ip)) = (ours, ip) {
                out.state
                    .neighbours
                    .insert(ip, MacAddr(mac.unwrap_or_default()));
                out.neighbours.insert(ip, m);
            }
        }
        Ok(out)
    }

    /// Applies one change; `owned` supplies the messages removals need.
    pub async fn apply(
        &self,
        index: u32,
        owned: &Owned,
        change: Change,
    ) -> Result<(), KernelError> {
        let what = format!("{change} dev {}", self.interface);
        match change {
            Change::AddAddress(ip) => {
                let mut req = self.handle.address().add(index, IpAddr::V4(ip), 32);
                req.message_mut()
                    .attributes
                    .push(AddressAttribute::Protocol(AddressProtocol::Other(
                        self.proto,
                    )));
                req.execute().await.map_err(nl(what))
            }
            Change::DelAddress(ip) => match owned.addresses.get(&ip) {
                Some(m) => self
                    .handle
                    .address()
                    .del(m.clone())
                    .execute()
                    .await
                    .map_err(nl(what)),
                None => Ok(()),
            },
            Change::AddRoute(net) => {
                let msg = RouteMessageBuilder::<Ipv4Addr>::new()
                    .destination_prefix(net.network(), net.prefix())
                    .output_interface(index)
                    .protocol(RouteProtocol::Other(self.proto))
                    .scope(RouteScope::Link)
                    .priority(self.metric)
                    .build();
                self.handle
                    .route()
                    .add(msg)
                    .execute()
                    .await
                    .map_err(nl(what))
            }
            Change::DelRoute(net) => match owned.routes.get(&net) {
                Some(m) => self
                    .handle
                    .route()
                    .del(m.clone())
                    .execute()
                    .await
                    .map_err(nl(what)),
                None => Ok(()),
            },
            Change::SetNeighbour(ip, mac) => {
                let mut req = self
                    .handle
                    .neighbours()
                    .add(index, IpAddr::V4(ip))
                    .link_layer_address(&mac.0)
                    .state(NeighbourState::Permanent)
                    .replace();
                req.message_mut()
                    .attributes
                    .push(NeighbourAttribute::Protocol(RouteProtocol::Other(
                        self.proto,
                    )));
                req.execute().await.map_err(nl(what))
            }
            Change::DelNeighbour(ip) => match owned.neighbours.get(&ip) {
                Some(m) => self
                    .handle
                    .neighbours()
                    .del(m.clone())
                    .execute()
                    .await
                    .map_err(nl(what)),
                None => Ok(()),
            },
        }
    }
}
