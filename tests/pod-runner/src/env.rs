//! A container's environment and argv, resolved from its spec and already-fetched Secrets and ConfigMaps the
//! way the kubelet does (envFrom, then env, with `$(VAR)` expansion). Pure: fetching is `objects.rs`'s job.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::downward::{self, NodeFacts};
use crate::error::ConfigError;
use crate::objects::{optional, Refs};

/// Where pods reach the API server (`KUBERNETES_SERVICE_HOST`/`PORT`).
#[derive(Debug, Clone)]
pub struct ApiEndpoint {
    /// Host (an IP).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The names of the Secrets and ConfigMaps a container's env and envFrom refer to.
pub fn referenced(container: &Container) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut secrets, mut config_maps) = (BTreeSet::new(), BTreeSet::new());
    for from in container.env_from.iter().flatten() {
        secrets.extend(from.secret_ref.as_ref().map(|s| s.name.clone()));
        config_maps.extend(from.config_map_ref.as_ref().map(|c| c.name.clone()));
    }
    for source in container.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
        secrets.extend(source.secret_key_ref.as_ref().map(|s| s.name.clone()));
        config_maps.extend(source.config_map_key_ref.as_ref().map(|c| c.name.clone()));
    }
    (secrets, config_maps)
}

/// The container's environment: PATH, HOSTNAME and the API server's address, then envFrom, then env (later
/// entries override earlier ones; `$(VAR)` in values refers to variables defined before).
pub fn resolve(
    pod: &Pod,
    container: &Container,
    refs: &Refs,
    node: &NodeFacts,
    api: &ApiEndpoint,
    path: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars: Vec<(String, String)> = vec![
        ("PATH".into(), path.into()),
        ("HOSTNAME".into(), pod.metadata.name.clone().unwrap_or_default()),
        ("KUBERNETES_SERVICE_HOST".into(), api.host.clone()),
        ("KUBERNETES_SERVICE_PORT".into(), api.port.to_string()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), api.port.to_string()),
    ];
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        let data = if let Some(secret) = &from.secret_ref {
            optional(refs.secret_data(&secret.name), secret.optional)?
        } else if let Some(config_map) = &from.config_map_ref {
            optional(refs.config_map_data(&config_map.name), config_map.optional)?
        } else {
            None
        };
        for (key, value) in data.into_iter().flatten() {
            set(&mut vars, format!("{prefix}{key}"), String::from_utf8_lossy(&value).into_owned());
        }
    }
    for var in container.env.iter().flatten() {
        let value = match &var.value_from {
            None => Some(expand(var.value.as_deref().unwrap_or(""), &vars)),
            Some(source) => {
                if let Some(key) = &source.secret_key_ref {
                    optional(refs.secret_key(&key.name, &key.key), key.optional)?
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                } else if let Some(key) = &source.config_map_key_ref {
                    optional(refs.config_map_key(&key.name, &key.key), key.optional)?
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                } else if let Some(field) = &source.field_ref {
                    Some(downward::field_value(pod, &field.field_path, node)?)
                } else if let Some(resource) = &source.resource_field_ref {
                    Some(downward::resource_value(pod, &container.name, resource, node)?)
                } else {
                    None
                }
            }
        };
        if let Some(value) = value {
            set(&mut vars, var.name.clone(), value);
        }
    }
    Ok(vars)
}

/// The argv after the binary: `command[1..]` (command[0] names the image's binary, which the node's image
/// map replaces) then `args`, each with `$(VAR)` expanded.
pub fn arguments(container: &Container, vars: &[(String, String)]) -> Vec<String> {
    let command = container.command.iter().flatten().skip(1);
    command.chain(container.args.iter().flatten()).map(|arg| expand(arg, vars)).collect()
}

/// Expands `$(NAME)` with the value of a defined variable; `$$` is a literal `$`; anything else stays.
pub fn expand(input: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, value)) => out.push_str(value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn set(vars: &mut Vec<(String, String)>, name: String, value: String) {
    vars.retain(|(k, _)| *k != name);
    vars.push((name, value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMap, ConfigMapKeySelector, EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, PodSpec, Secret,
        SecretEnvSource, SecretKeySelector,
    };
    use k8s_openapi::ByteString;
    use kube::api::ObjectMeta;

    fn node() -> NodeFacts {
        NodeFacts { node_name: "n1".into(), ip: "127.0.0.1".into(), pod_ip: None, cpu: 2.0, memory: 1e9 }
    }
    fn api() -> ApiEndpoint {
        ApiEndpoint { host: "127.0.0.1".into(), port: 6443 }
    }
    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                labels: Some([("tier".to_string(), "db".to_string())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec::default()),
            status: None,
        }
    }
    fn refs() -> Refs {
        let secret =
            Secret { data: Some([("token".to_string(), ByteString(b"s3cret".to_vec()))].into()), ..Secret::default() };
        let config_map =
            ConfigMap { data: Some([("level".to_string(), "debug".to_string())].into()), ..ConfigMap::default() };
        Refs {
            namespace: "ns".into(),
            secrets: [("creds".to_string(), Some(secret)), ("gone".to_string(), None)].into(),
            config_maps: [("settings".to_string(), Some(config_map))].into(),
        }
    }
    fn from(source: EnvVarSource) -> Option<EnvVarSource> {
        Some(source)
    }
    fn var(name: &str, value: Option<&str>, value_from: Option<EnvVarSource>) -> EnvVar {
        EnvVar { name: name.into(), value: value.map(Into::into), value_from }
    }
    fn secret_ref(name: &str, key: &str, optional: Option<bool>) -> Option<EnvVarSource> {
        from(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: name.into(), key: key.into(), optional }),
            ..EnvVarSource::default()
        })
    }
    fn get<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn values_refs_fields_and_expansion() {
        let container = Container {
            name: "c".into(),
            env: Some(vec![
                var("PLAIN", Some("x"), None),
                var("TOKEN", None, secret_ref("creds", "token", None)),
                var(
                    "LEVEL",
                    None,
                    from(EnvVarSource {
                        config_map_key_ref: Some(ConfigMapKeySelector {
                            name: "settings".into(),
                            key: "level".into(),
                            optional: None,
                        }),
                        ..EnvVarSource::default()
                    }),
                ),
                var(
                    "TIER",
                    None,
                    from(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.labels['tier']".into(),
                            api_version: None,
                        }),
                        ..EnvVarSource::default()
                    }),
                ),
                var("MAYBE", None, secret_ref("gone", "k", Some(true))),
                var("JOINED", Some("$(PLAIN)-$(TIER)-$(UNKNOWN)-$$(PLAIN)"), None),
            ]),
            env_from: Some(vec![EnvFromSource {
                prefix: Some("S_".into()),
                secret_ref: Some(SecretEnvSource { name: "creds".into(), optional: None }),
                config_map_ref: None,
            }]),
            ..Container::default()
        };
        let vars = resolve(&pod(), &container, &refs(), &node(), &api(), "/usr/bin").unwrap();
        assert_eq!(get(&vars, "PATH"), Some("/usr/bin"));
        assert_eq!(get(&vars, "KUBERNETES_SERVICE_PORT"), Some("6443"));
        assert_eq!(get(&vars, "PLAIN"), Some("x"));
        assert_eq!(get(&vars, "TOKEN"), Some("s3cret"));
        assert_eq!(get(&vars, "S_token"), Some("s3cret"));
        assert_eq!(get(&vars, "LEVEL"), Some("debug"));
        assert_eq!(get(&vars, "TIER"), Some("db"));
        assert_eq!(get(&vars, "MAYBE"), None);
        assert_eq!(get(&vars, "JOINED"), Some("x-db-$(UNKNOWN)-$(PLAIN)"));
    }

    #[test]
    fn missing_objects_and_keys_give_the_kubelets_messages() {
        let with = |env: EnvVar| Container { name: "c".into(), env: Some(vec![env]), ..Container::default() };
        let resolve_one = |env| resolve(&pod(), &with(env), &refs(), &node(), &api(), "/bin");
        let err = resolve_one(var("A", None, secret_ref("gone", "k", None))).unwrap_err();
        assert_eq!(err.to_string(), "secret \"gone\" not found");
        let err = resolve_one(var("A", None, secret_ref("unfetched", "k", None))).unwrap_err();
        assert_eq!(err.to_string(), "secret \"unfetched\" not found");
        let err = resolve_one(var("A", None, secret_ref("creds", "nope", None))).unwrap_err();
        assert_eq!(err.to_string(), "couldn't find key nope in Secret ns/creds");
    }

    #[test]
    fn argv_drops_the_commands_binary_and_expands() {
        let container = Container {
            command: Some(vec!["/testbox".into(), "exit".into()]),
            args: Some(vec!["$(CODE)".into()]),
            ..Container::default()
        };
        let vars = vec![("CODE".to_string(), "3".to_string())];
        assert_eq!(arguments(&container, &vars), ["exit", "3"]);
        let (secrets, _) = referenced(&Container {
            env: Some(vec![var("T", None, secret_ref("creds", "token", None))]),
            ..Container::default()
        });
        assert_eq!(secrets.into_iter().collect::<Vec<_>>(), ["creds"]);
    }
}
