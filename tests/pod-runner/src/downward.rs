//! The downward API: a pod's own fields (`fieldRef`) and its containers' resources (`resourceFieldRef`) as
//! text, for env vars and downwardAPI volumes. Pure functions of the pod and the node's facts.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, ResourceFieldSelector};

use crate::error::ConfigError;
use crate::quantity;

/// What the node knows that a pod may ask about.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// The node's name.
    pub node_name: String,
    /// The node's IP, also every pod's IP on the host network.
    pub ip: String,
    /// The IP of the pod asking, when it has one of its own (the pod network).
    pub pod_ip: Option<String>,
    /// Allocatable CPU in cores (the default of an unset CPU limit).
    pub cpu: f64,
    /// Allocatable memory in bytes (the default of an unset memory limit).
    pub memory: f64,
}

/// The value of a `fieldRef` field path.
pub fn field_value(pod: &Pod, field_path: &str, node: &NodeFacts) -> Result<String, ConfigError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let value = match field_path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_text(meta.labels.as_ref()),
        "metadata.annotations" => map_text(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_else(|| node.node_name.clone()),
        "spec.serviceAccountName" => {
            spec.and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".to_string())
        }
        "status.podIP" | "status.podIPs" => node.pod_ip.clone().unwrap_or_else(|| node.ip.clone()),
        "status.hostIP" | "status.hostIPs" => node.ip.clone(),
        other => {
            let keyed = |prefix: &str| other.strip_prefix(prefix).and_then(|rest| rest.strip_suffix("']"));
            if let Some(key) = keyed("metadata.labels['") {
                meta.labels.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default()
            } else if let Some(key) = keyed("metadata.annotations['") {
                meta.annotations.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default()
            } else {
                return Err(ConfigError::UnsupportedField(other.to_string()));
            }
        }
    };
    Ok(value)
}

/// The value of a `resourceFieldRef` of `container` (limits default to the node's allocatable), rounded up
/// in units of the divisor.
pub fn resource_value(
    pod: &Pod,
    container: &str,
    selector: &ResourceFieldSelector,
    node: &NodeFacts,
) -> Result<String, ConfigError> {
    let unsupported = || ConfigError::UnsupportedResource(selector.resource.clone());
    let name = selector.container_name.as_deref().unwrap_or(container);
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()));
    let resources = containers.clone().find(|c| c.name == name).and_then(|c| c.resources.as_ref());
    let (section, resource) = selector.resource.split_once('.').ok_or_else(unsupported)?;
    let default = match resource {
        "cpu" => node.cpu,
        "memory" => node.memory,
        "ephemeral-storage" => 0.0,
        _ => return Err(unsupported()),
    };
    let values = match section {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => return Err(unsupported()),
    };
    let value = values.and_then(|v| v.get(resource)).and_then(|q| quantity::parse(&q.0));
    // an unset request defaults to the limit, an unset limit to the node's allocatable
    let value = match (value, section) {
        (Some(v), _) => v,
        (None, "requests") => resources
            .and_then(|r| r.limits.as_ref())
            .and_then(|v| v.get(resource))
            .and_then(|q| quantity::parse(&q.0))
            .unwrap_or(0.0),
        (None, _) => default,
    };
    let divisor = selector.divisor.as_ref().and_then(|d| quantity::parse(&d.0)).filter(|d| *d > 0.0).unwrap_or(1.0);
    Ok(format!("{}", (value / divisor).ceil() as i64))
}

/// Labels or annotations as a downwardAPI volume file: `key="value"` lines, sorted by key.
fn map_text(map: Option<&BTreeMap<String, String>>) -> String {
    map.iter().flat_map(|m| m.iter()).map(|(k, v)| format!("{k}={v:?}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use kube::api::ObjectMeta;

    fn node() -> NodeFacts {
        NodeFacts {
            node_name: "n1".into(),
            ip: "127.0.0.1".into(),
            pod_ip: None,
            cpu: 2.0,
            memory: 8.0 * 1024.0 * 1024.0 * 1024.0,
        }
    }

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u-1".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                annotations: Some([("note".to_string(), "a \"b\"".to_string())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    resources: Some(ResourceRequirements {
                        limits: Some([("memory".to_string(), Quantity("64Mi".into()))].into()),
                        ..ResourceRequirements::default()
                    }),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn fields_of_the_pod_and_node() {
        let (pod, node) = (pod(), node());
        assert_eq!(field_value(&pod, "metadata.name", &node).unwrap(), "p");
        assert_eq!(field_value(&pod, "metadata.namespace", &node).unwrap(), "ns");
        assert_eq!(field_value(&pod, "metadata.uid", &node).unwrap(), "u-1");
        assert_eq!(field_value(&pod, "metadata.labels['app']", &node).unwrap(), "web");
        assert_eq!(field_value(&pod, "metadata.labels['none']", &node).unwrap(), "");
        assert_eq!(field_value(&pod, "metadata.annotations['note']", &node).unwrap(), "a \"b\"");
        assert_eq!(field_value(&pod, "metadata.labels", &node).unwrap(), "app=\"web\"\n");
        assert_eq!(field_value(&pod, "spec.nodeName", &node).unwrap(), "n1");
        assert_eq!(field_value(&pod, "spec.serviceAccountName", &node).unwrap(), "default");
        assert_eq!(field_value(&pod, "status.podIP", &node).unwrap(), "127.0.0.1");
        let own = NodeFacts { pod_ip: Some("10.88.0.2".into()), ..node.clone() };
        assert_eq!(field_value(&pod, "status.podIP", &own).unwrap(), "10.88.0.2");
        assert_eq!(field_value(&pod, "status.hostIP", &own).unwrap(), "127.0.0.1");
        assert_eq!(
            field_value(&pod, "spec.hostname", &node),
            Err(ConfigError::UnsupportedField("spec.hostname".into()))
        );
    }

    #[test]
    fn resources_with_divisors_and_defaults() {
        let (pod, node) = (pod(), node());
        let sel = |resource: &str, divisor: Option<&str>| ResourceFieldSelector {
            resource: resource.into(),
            divisor: divisor.map(|d| Quantity(d.into())),
            container_name: None,
        };
        assert_eq!(resource_value(&pod, "c", &sel("limits.memory", Some("1Mi")), &node).unwrap(), "64");
        assert_eq!(resource_value(&pod, "c", &sel("requests.memory", Some("1Mi")), &node).unwrap(), "64");
        assert_eq!(resource_value(&pod, "c", &sel("limits.cpu", None), &node).unwrap(), "2");
        assert_eq!(resource_value(&pod, "c", &sel("limits.cpu", Some("1m")), &node).unwrap(), "2000");
        assert!(resource_value(&pod, "c", &sel("limits.gpu", None), &node).is_err());
    }
}
