//! The pod network, off unless the runner is given a bridge (`--pod-bridge`): each pod gets a network
//! namespace of its own (`ip netns`), a veth pair whose host end joins the node's bridge, an address from the
//! bridge's subnet (the node's pod CIDR) with the bridge's address as default gateway, and a resolv.conf
//! naming the cluster DNS with the kubelet's search path. Runs iproute2's `ip`; the bridge itself is made by
//! `scripts/node.sh`. It must not start processes in the namespaces (`process.rs` joins them).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::error::NetworkError;

/// The node's pod network: the bridge, its subnet, the cluster DNS, and the addresses handed out.
#[derive(Debug)]
pub struct PodNetwork {
    bridge: String,
    gateway: Ipv4Addr,
    prefix: u8,
    dns: Ipv4Addr,
    domain: String,
    used: Mutex<BTreeSet<u32>>,
}

/// One pod's place on the network; [`PodNetwork::detach`] gives it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The pod's IP.
    pub ip: Ipv4Addr,
    /// The network namespace's name (`ip netns`).
    pub netns: String,
    /// The host end of the veth pair.
    pub veth: String,
    /// The resolv.conf bind-mounted at `/etc/resolv.conf` in the pod's containers.
    pub resolv_conf: PathBuf,
}

impl Attachment {
    /// The namespace file a process joins (`setns`).
    pub fn netns_path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }
}

impl PodNetwork {
    /// A pod network on `bridge`, whose address and subnet are `gateway_cidr` (e.g. `10.88.0.1/16`), with the
    /// cluster DNS at `dns` serving `domain` (e.g. `cluster.local`).
    pub fn new(bridge: &str, gateway_cidr: &str, dns: Ipv4Addr, domain: &str) -> Result<PodNetwork, NetworkError> {
        let (gateway, prefix) = parse_cidr(gateway_cidr)?;
        Ok(PodNetwork {
            bridge: bridge.to_string(),
            gateway,
            prefix,
            dns,
            domain: domain.to_string(),
            used: Mutex::new(BTreeSet::new()),
        })
    }

    /// Gives the pod `uid` of `namespace` its network namespace, veth, address and resolv.conf (written
    /// into `pod_dir`). A namespace left by an earlier run of the same pod is replaced.
    pub async fn attach(&self, uid: &str, namespace: &str, pod_dir: &Path) -> Result<Attachment, NetworkError> {
        let ip = self.allocate()?;
        let short: String = uid.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
        let bridge_part: String = self.bridge.chars().take(6).collect();
        let attachment = Attachment {
            ip,
            netns: format!("{}-{short}", self.bridge),
            veth: format!("{bridge_part}v{short}"),
            resolv_conf: pod_dir.join("resolv.conf"),
        };
        let set_up = self.set_up(&attachment, namespace).await;
        if let Err(error) = set_up {
            self.detach(&attachment).await;
            return Err(error);
        }
        Ok(attachment)
    }

    async fn set_up(&self, a: &Attachment, namespace: &str) -> Result<(), NetworkError> {
        // leftovers of an earlier run (a restarted runner starts its pods again)
        let _ = ip(&["netns", "delete", &a.netns]).await;
        let _ = ip(&["link", "delete", &a.veth]).await;
        if let Some(dir) = a.resolv_conf.parent() {
            std::fs::create_dir_all(dir).map_err(|e| NetworkError::File(a.resolv_conf.clone(), e))?;
        }
        std::fs::write(&a.resolv_conf, resolv_conf(self.dns, namespace, &self.domain))
            .map_err(|e| NetworkError::File(a.resolv_conf.clone(), e))?;
        let address = format!("{}/{}", a.ip, self.prefix);
        let gateway = self.gateway.to_string();
        ip(&["netns", "add", &a.netns]).await?;
        ip(&["link", "add", &a.veth, "type", "veth", "peer", "name", "eth0", "netns", &a.netns]).await?;
        ip(&["link", "set", &a.veth, "master", &self.bridge, "up"]).await?;
        ip(&["-n", &a.netns, "link", "set", "lo", "up"]).await?;
        ip(&["-n", &a.netns, "addr", "add", &address, "dev", "eth0"]).await?;
        ip(&["-n", &a.netns, "link", "set", "eth0", "up"]).await?;
        ip(&["-n", &a.netns, "route", "add", "default", "via", &gateway]).await?;
        Ok(())
    }

    /// Removes the pod's namespace (and with it the veth pair) and frees its address.
    pub async fn detach(&self, a: &Attachment) {
        if let Err(error) = ip(&["netns", "delete", &a.netns]).await {
            tracing::warn!(netns = %a.netns, %error, "cannot delete the pod's network namespace");
        }
        let _ = ip(&["link", "delete", &a.veth]).await;
        self.used.lock().unwrap_or_else(PoisonError::into_inner).remove(&u32::from(a.ip));
    }

    /// The lowest free host address of the subnet, past the gateway's.
    fn allocate(&self) -> Result<Ipv4Addr, NetworkError> {
        let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
        let network = u32::from(self.gateway) & mask;
        let broadcast = network | !mask;
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        let free = (u32::from(self.gateway) + 1..broadcast).find(|candidate| !used.contains(candidate));
        let address = free.ok_or(NetworkError::Exhausted)?;
        used.insert(address);
        Ok(Ipv4Addr::from(address))
    }
}

/// The pod's resolv.conf, as the kubelet writes it for `dnsPolicy: ClusterFirst`.
pub fn resolv_conf(dns: Ipv4Addr, namespace: &str, domain: &str) -> String {
    format!("nameserver {dns}\nsearch {namespace}.svc.{domain} svc.{domain} {domain}\noptions ndots:5\n")
}

/// The network of `a.b.c.d/n`, as `w.x.y.z/n` (e.g. `10.88.0.1/16` → `10.88.0.0/16`).
pub fn subnet(text: &str) -> Result<String, NetworkError> {
    let (address, prefix) = parse_cidr(text)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ok(format!("{}/{prefix}", Ipv4Addr::from(u32::from(address) & mask)))
}

/// `a.b.c.d/n` → the address and the prefix length.
pub fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), NetworkError> {
    let bad = || NetworkError::Cidr(text.to_string());
    let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
    let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&prefix) {
        return Err(bad());
    }
    Ok((address, prefix))
}

async fn ip(args: &[&str]) -> Result<(), NetworkError> {
    let output = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|e| NetworkError::Command(args.join(" "), e.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(NetworkError::Command(args.join(" "), String::from_utf8_lossy(&output.stderr).trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_the_bridges_subnet_and_are_reused_once_freed() {
        let network = PodNetwork::new("mfx0", "10.99.0.1/30", Ipv4Addr::new(10, 99, 0, 1), "cluster.local")
            .expect("a valid network");
        assert_eq!(network.allocate().ok(), Some(Ipv4Addr::new(10, 99, 0, 2)));
        // .3 is the broadcast address of a /30
        assert!(matches!(network.allocate(), Err(NetworkError::Exhausted)));
        network.used.lock().expect("lock").remove(&u32::from(Ipv4Addr::new(10, 99, 0, 2)));
        assert_eq!(network.allocate().ok(), Some(Ipv4Addr::new(10, 99, 0, 2)));
        assert!(parse_cidr("10.88.0.1").is_err() && parse_cidr("10.88.0.1/33").is_err());
        assert_eq!(parse_cidr("10.88.0.1/16").ok(), Some((Ipv4Addr::new(10, 88, 0, 1), 16)));
        assert_eq!(subnet("10.88.3.1/16").ok().as_deref(), Some("10.88.0.0/16"));
    }

    #[test]
    fn resolv_conf_searches_the_pods_namespace_first() {
        assert_eq!(
            resolv_conf(Ipv4Addr::new(10, 88, 0, 1), "shop", "cluster.local"),
            "nameserver 10.88.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
        );
    }
}
