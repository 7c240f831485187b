//! The kube-proxy's part, with the pod network only: Service ClusterIPs reachable from pods. Every 2 s it
//! reads the Services and EndpointSlices and, when they changed (and every 30 s anyway, so a table removed
//! by hand comes back), replaces one nftables table of its own (`nft -f`, one transaction): packets from the pod bridge to a ClusterIP port are DNATed to a random ready
//! endpoint, and masqueraded when they go back out to the bridge, so replies come back through the node.
//! TCP to the bridge's own address (any port but DNS's 53) goes to the same port on the node's 127.0.0.1, so
//! pods reach the servers the tests run there (PostgreSQL, HTTP servers) at the gateway's address. Only
//! packets that enter from this node's bridge are touched (another cluster on the machine may use the same
//! Service range). It must not touch the pods' namespaces.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Api, Client};
use microfleet_common::shutdown::Shutdown;
use tokio::io::AsyncWriteExt;

/// The node's pod bridge, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The bridge device.
    pub name: String,
    /// Its address, the pods' gateway.
    pub gateway: Ipv4Addr,
    /// The pod subnet, `a.b.c.d/n`.
    pub subnet: String,
}

/// One ClusterIP port and the endpoints it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// The ClusterIP.
    pub ip: Ipv4Addr,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The Service port.
    pub port: u16,
    /// Ready endpoints: address and target port.
    pub backends: Vec<(Ipv4Addr, u16)>,
}

/// The ClusterIP ports of `services`, each with the ready IPv4 endpoints of its EndpointSlices; the
/// `default/kubernetes` Service, which has none when the API server advertises a loopback address, leads to
/// `api_server`.
pub fn frontends(services: &[Service], slices: &[EndpointSlice], api_server: Option<(Ipv4Addr, u16)>) -> Vec<Frontend> {
    let mut result = Vec::new();
    for service in services {
        let Some(spec) = &service.spec else { continue };
        let Some(ip) = spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<Ipv4Addr>().ok()) else { continue };
        let (namespace, name) = (service.metadata.namespace.as_deref(), service.metadata.name.as_deref());
        let own: Vec<&EndpointSlice> = slices
            .iter()
            .filter(|s| s.metadata.namespace.as_deref() == namespace && s.address_type == "IPv4")
            .filter(|s| {
                let label = s.metadata.labels.as_ref().and_then(|l| l.get("kubernetes.io/service-name"));
                label.map(String::as_str) == name
            })
            .collect();
        for port in spec.ports.iter().flatten() {
            let protocol = port.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
            let (Ok(number), true) = (u16::try_from(port.port), matches!(protocol.as_str(), "tcp" | "udp")) else {
                continue;
            };
            let mut backends = Vec::new();
            for slice in &own {
                let target = slice.ports.iter().flatten().find(|p| {
                    p.name.as_deref().unwrap_or("") == port.name.as_deref().unwrap_or("")
                        && p.protocol.as_deref().unwrap_or("TCP").eq_ignore_ascii_case(&protocol)
                });
                let Some(target) = target.and_then(|p| p.port).and_then(|p| u16::try_from(p).ok()) else { continue };
                for endpoint in &slice.endpoints {
                    if endpoint.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                        continue;
                    }
                    let addresses = endpoint.addresses.iter().filter_map(|a| a.parse::<Ipv4Addr>().ok());
                    backends.extend(addresses.map(|a| (a, target)));
                }
            }
            if backends.is_empty() && (namespace, name) == (Some("default"), Some("kubernetes")) {
                backends.extend(api_server);
            }
            backends.sort();
            backends.dedup();
            result.push(Frontend { ip, protocol, port: number, backends });
        }
    }
    result.sort_by(|a, b| (a.ip, a.port, &a.protocol).cmp(&(b.ip, b.port, &b.protocol)));
    result
}

/// The nftables script that replaces table `table` with the rules for `frontends`, for packets from the
/// bridge, masquerading those DNATed back to the pod subnet, and the gateway's ports to the node's loopback.
pub fn ruleset(table: &str, bridge: &Bridge, frontends: &[Frontend]) -> String {
    let Bridge { name: bridge, gateway, subnet } = bridge;
    let mut out = String::new();
    let _ = writeln!(out, "table ip {table}\ndelete table ip {table}\ntable ip {table} {{");
    let _ = writeln!(out, "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;");
    let _ = writeln!(out, "    iifname \"{bridge}\" jump services");
    let _ = writeln!(out, "    iifname \"{bridge}\" ip daddr {gateway} tcp dport != 53 dnat to 127.0.0.1\n  }}");
    let _ = writeln!(out, "  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;");
    let _ = writeln!(out, "    oifname \"{bridge}\" ct status dnat ip saddr {subnet} masquerade\n  }}");
    let mut chains = String::new();
    let _ = writeln!(out, "  chain services {{");
    for (index, frontend) in frontends.iter().enumerate().filter(|(_, f)| !f.backends.is_empty()) {
        let Frontend { ip, protocol, port, backends } = frontend;
        let _ = writeln!(out, "    ip daddr {ip} {protocol} dport {port} jump svc{index}");
        let targets: Vec<String> =
            (0..backends.len()).map(|endpoint| format!("{endpoint} : jump svc{index}_ep{endpoint}")).collect();
        let _ = writeln!(
            chains,
            "  chain svc{index} {{\n    numgen random mod {} vmap {{ {} }}\n  }}",
            backends.len(),
            targets.join(", ")
        );
        for (endpoint, (address, target)) in backends.iter().enumerate() {
            let dnat = format!("meta l4proto {protocol} dnat to {address}:{target}");
            let _ = writeln!(chains, "  chain svc{index}_ep{endpoint} {{\n    {dnat}\n  }}");
        }
    }
    let _ = writeln!(out, "  }}\n{chains}}}");
    out
}

/// Keeps the table in step with the cluster's Services until shutdown, then deletes it.
pub async fn sync(client: Client, bridge: Bridge, api_server: Option<(Ipv4Addr, u16)>, shutdown: Shutdown) {
    let table = format!("microfleet_{}", bridge.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    let (services, slices): (Api<Service>, Api<EndpointSlice>) = (Api::all(client.clone()), Api::all(client));
    let mut applied: Option<String> = None;
    let requested = shutdown.requested();
    tokio::pin!(requested);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            () = &mut requested => break,
            _ = tick.tick() => {}
        }
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(15) {
            applied = None;
        }
        let listed = async {
            let services = services.list(&Default::default()).await?.items;
            let slices = slices.list(&Default::default()).await?.items;
            Ok::<_, kube::Error>((services, slices))
        };
        let (services, slices) = match listed.await {
            Ok(lists) => lists,
            Err(error) => {
                tracing::warn!(%error, "cannot list Services and EndpointSlices; retrying");
                continue;
            }
        };
        let rules = ruleset(&table, &bridge, &frontends(&services, &slices, api_server));
        if applied.as_ref() == Some(&rules) {
            continue;
        }
        match nft(&rules).await {
            Ok(()) => {
                tracing::info!(%table, services = services.len(), "Service rules updated");
                applied = Some(rules);
            }
            Err(error) => tracing::warn!(%table, %error, "cannot update the Service rules; retrying"),
        }
    }
    if let Err(error) = nft(&format!("delete table ip {table}\n")).await {
        tracing::warn!(%table, %error, "cannot delete the Service rules");
    }
}

async fn nft(script: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await.map_err(|e| e.to_string())?;
    }
    let output = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_ip_ports_lead_to_the_ready_endpoints_of_their_slices() {
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"clusterIP": "10.0.0.7", "ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}
        }))
        .expect("a Service");
        let headless: Service = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "shop"}, "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}
        }))
        .expect("a Service");
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.88.0.3"], "conditions": {"ready": true}},
                {"addresses": ["10.88.0.2"]},
                {"addresses": ["10.88.0.4"], "conditions": {"ready": false}}
            ]
        }))
        .expect("an EndpointSlice");
        let mut elsewhere = slice.clone();
        elsewhere.metadata.namespace = Some("other".into());
        let kubernetes: Service = serde_json::from_value(json!({
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "https", "port": 443}]}
        }))
        .expect("a Service");
        let api = (Ipv4Addr::LOCALHOST, 16443);
        let found = frontends(&[service, headless, kubernetes], &[slice, elsewhere], Some(api));
        assert_eq!(
            found[0],
            Frontend { ip: Ipv4Addr::new(10, 0, 0, 1), protocol: "tcp".into(), port: 443, backends: vec![api] }
        );
        let found = found[1..].to_vec();
        let backends = vec![(Ipv4Addr::new(10, 88, 0, 2), 8080), (Ipv4Addr::new(10, 88, 0, 3), 8080)];
        let ip = Ipv4Addr::new(10, 0, 0, 7);
        assert_eq!(
            found,
            [
                Frontend { ip, protocol: "udp".into(), port: 53, backends: vec![] },
                Frontend { ip, protocol: "tcp".into(), port: 80, backends },
            ]
        );
        let bridge =
            Bridge { name: "mfh0".into(), gateway: Ipv4Addr::new(10, 88, 0, 1), subnet: "10.88.0.0/16".into() };
        let rules = ruleset("microfleet_mfh0", &bridge, &found);
        assert!(rules.contains("iifname \"mfh0\" ip daddr 10.88.0.1 tcp dport != 53 dnat to 127.0.0.1"), "{rules}");
        assert!(rules.starts_with("table ip microfleet_mfh0\ndelete table ip microfleet_mfh0\n"), "{rules}");
        assert!(rules.contains("iifname \"mfh0\" jump services"), "{rules}");
        assert!(rules.contains("ip daddr 10.0.0.7 tcp dport 80 jump svc1\n"), "{rules}");
        assert!(!rules.contains("udp dport 53"), "no endpoints, no rule: {rules}");
        assert!(rules.contains("numgen random mod 2 vmap { 0 : jump svc1_ep0, 1 : jump svc1_ep1 }"), "{rules}");
        assert!(rules.contains("meta l4proto tcp dnat to 10.88.0.2:8080"), "{rules}");
        assert!(rules.contains("meta l4proto tcp dnat to 10.88.0.3:8080"), "{rules}");
        assert!(rules.contains("oifname \"mfh0\" ct status dnat ip saddr 10.88.0.0/16 masquerade"), "{rules}");
    }
}
