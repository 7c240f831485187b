//! A container's volumes as host directories under the pod's work dir (emptyDir, hostPath, secret,
//! configMap, downwardAPI, projected with service-account tokens from the TokenRequest API), and the bind
//! mounts that put them at their mount paths. It must not start processes (that is `process.rs`).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    Container, DownwardAPIVolumeFile, KeyToPath, Pod, ServiceAccount, ServiceAccountTokenProjection, Volume,
};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::downward::{self, NodeFacts};
use crate::error::ConfigError;
use crate::objects::{optional, Refs};
use crate::process::BindMount;

/// The ConfigMap every namespace gets with the cluster's CA (published by kube-controller-manager).
const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

/// What materialising volumes needs besides the pod.
pub struct VolumeContext<'a> {
    /// The API client (TokenRequests).
    pub client: &'a Client,
    /// The pod's directory in the work dir.
    pub pod_dir: &'a Path,
    /// The node's facts (downward API).
    pub node: &'a NodeFacts,
    /// The cluster CA, used for `kube-root-ca.crt` while the controller has not published it yet.
    pub ca_file: Option<&'a Path>,
}

/// The names of the Secrets and ConfigMaps the container's mounted volumes refer to.
pub fn referenced(pod: &Pod, container: &Container) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut secrets, mut config_maps) = (BTreeSet::new(), BTreeSet::new());
    for volume in mounted(pod, container) {
        secrets.extend(volume.secret.as_ref().and_then(|s| s.secret_name.clone()));
        config_maps.extend(volume.config_map.as_ref().map(|c| c.name.clone()));
        for source in volume.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            secrets.extend(source.secret.as_ref().map(|s| s.name.clone()));
            config_maps.extend(source.config_map.as_ref().map(|c| c.name.clone()));
        }
    }
    (secrets, config_maps)
}

fn mounted<'a>(pod: &'a Pod, container: &'a Container) -> impl Iterator<Item = &'a Volume> {
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    volumes.filter(|v| container.volume_mounts.iter().flatten().any(|m| m.name == v.name))
}

/// Writes (or refreshes) every volume the container mounts and returns its bind mounts, in mount order.
pub async fn prepare(
    ctx: &VolumeContext<'_>,
    pod: &Pod,
    container: &Container,
    refs: &Refs,
) -> Result<Vec<BindMount>, ConfigError> {
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let volume = mounted(pod, container)
            .find(|v| v.name == mount.name)
            .ok_or_else(|| ConfigError::Volume(format!("volume {:?} is not defined in the pod", mount.name)))?;
        let (dir, always_read_only) = materialise(ctx, pod, container, volume, refs)
            .await
            .map_err(|e| ConfigError::Volume(format!("MountVolume.SetUp failed for volume {:?} : {e}", volume.name)))?;
        let fs_group = pod.spec.as_ref().and_then(|s| s.security_context.as_ref()).and_then(|c| c.fs_group);
        if let (true, Some(group)) = (always_read_only, fs_group) {
            let group =
                u32::try_from(group).map_err(|_| ConfigError::Volume(format!("fsGroup {group} is not a group id")))?;
            own_by_group(&dir, group)?;
        }
        let sub_path = mount.sub_path.as_deref().filter(|s| !s.is_empty());
        let source = match sub_path {
            Some(sub) => {
                let source = dir.join(relative(sub)?);
                if !source.exists() {
                    fs::create_dir_all(&source).map_err(io_error)?;
                }
                source
            }
            None => dir,
        };
        let read_only = always_read_only || mount.read_only == Some(true);
        mounts.push(BindMount { source, target: PathBuf::from(&mount.mount_path), read_only });
    }
    Ok(mounts)
}

/// The host directory of one volume, and whether it is always mounted read-only.
async fn materialise(
    ctx: &VolumeContext<'_>,
    pod: &Pod,
    container: &Container,
    volume: &Volume,
    refs: &Refs,
) -> Result<(PathBuf, bool), ConfigError> {
    let dir = ctx.pod_dir.join("volumes").join(&volume.name);
    if let Some(host) = &volume.host_path {
        let path = PathBuf::from(&host.path);
        match host.type_.as_deref().unwrap_or("") {
            "FileOrCreate" if !path.exists() => {
                fs::write(&path, b"").map_err(io_error)?;
            }
            "" | "DirectoryOrCreate" if !path.exists() => fs::create_dir_all(&path).map_err(io_error)?,
            _ => {}
        }
        return Ok((path, false));
    }
    fs::create_dir_all(&dir).map_err(io_error)?;
    if volume.empty_dir.is_some() {
        // writable by any user, as the kubelet makes it
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).map_err(io_error)?;
        return Ok((dir, false));
    }
    if let Some(secret) = &volume.secret {
        let name = secret.secret_name.clone().unwrap_or_default();
        if let Some(data) = optional(refs.secret_data(&name), secret.optional)? {
            write_keys(
                &dir,
                &data,
                secret.items.as_deref(),
                secret.default_mode,
                secret.optional,
                missing_key_secret(refs, &name),
            )?;
        }
        return Ok((dir, true));
    }
    if let Some(config_map) = &volume.config_map {
        let name = &config_map.name;
        if let Some(data) = optional(refs.config_map_data(name), config_map.optional)? {
            let items = config_map.items.as_deref();
            write_keys(
                &dir,
                &data,
                items,
                config_map.default_mode,
                config_map.optional,
                missing_key_config_map(refs, name),
            )?;
        }
        return Ok((dir, true));
    }
    if let Some(downward_api) = &volume.downward_api {
        write_downward(&dir, pod, container, downward_api.items.iter().flatten(), downward_api.default_mode, ctx)?;
        return Ok((dir, true));
    }
    if let Some(projected) = &volume.projected {
        let mode = projected.default_mode;
        for source in projected.sources.iter().flatten() {
            if let Some(secret) = &source.secret {
                if let Some(data) = optional(refs.secret_data(&secret.name), secret.optional)? {
                    write_keys(
                        &dir,
                        &data,
                        secret.items.as_deref(),
                        mode,
                        secret.optional,
                        missing_key_secret(refs, &secret.name),
                    )?;
                }
            }
            if let Some(config_map) = &source.config_map {
                let data = match (refs.config_map_data(&config_map.name), ctx.ca_file) {
                    (Err(ConfigError::ConfigMapNotFound(_)), Some(ca)) if config_map.name == ROOT_CA_CONFIG_MAP => {
                        Some([("ca.crt".to_string(), fs::read(ca).map_err(io_error)?)].into())
                    }
                    (result, _) => optional(result, config_map.optional)?,
                };
                if let Some(data) = data {
                    write_keys(
                        &dir,
                        &data,
                        config_map.items.as_deref(),
                        mode,
                        config_map.optional,
                        missing_key_config_map(refs, &config_map.name),
                    )?;
                }
            }
            if let Some(downward_api) = &source.downward_api {
                write_downward(&dir, pod, container, downward_api.items.iter().flatten(), mode, ctx)?;
            }
            if let Some(token) = &source.service_account_token {
                let jwt = request_token(ctx.client, pod, token).await?;
                write_file(&dir, &token.path, jwt.as_bytes(), mode.unwrap_or(0o644))?;
            }
            if source.cluster_trust_bundle.is_some() {
                return Err(ConfigError::Volume("clusterTrustBundle projections are not supported".into()));
            }
        }
        return Ok((dir, true));
    }
    Err(ConfigError::Volume("this volume type is not supported by microfleet-pod-runner".into()))
}

/// A token for the pod's ServiceAccount, bound to the pod, from the TokenRequest API.
async fn request_token(
    client: &Client,
    pod: &Pod,
    projection: &ServiceAccountTokenProjection,
) -> Result<String, ConfigError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let account = pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref()).unwrap_or("default");
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: projection.audience.iter().cloned().collect(),
            expiration_seconds: Some(projection.expiration_seconds.unwrap_or(3600)),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..TokenRequest::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let issued = api.create_token_request(account, &PostParams::default(), &request).await;
    let issued =
        issued.map_err(|e| ConfigError::Api(format!("cannot request a token of {namespace}/{account}: {e}")))?;
    issued
        .status
        .map(|s| s.token)
        .ok_or_else(|| ConfigError::Api(format!("TokenRequest of {namespace}/{account} returned no token")))
}

fn missing_key_secret(refs: &Refs, name: &str) -> impl Fn(&str) -> ConfigError {
    let (namespace, name) = (refs.namespace.clone(), name.to_string());
    move |key| ConfigError::SecretKeyMissing { key: key.into(), namespace: namespace.clone(), name: name.clone() }
}

fn missing_key_config_map(refs: &Refs, name: &str) -> impl Fn(&str) -> ConfigError {
    let (namespace, name) = (refs.namespace.clone(), name.to_string());
    move |key| ConfigError::ConfigMapKeyMissing { key: key.into(), namespace: namespace.clone(), name: name.clone() }
}

/// Writes every key, or only the `items` (key → path, mode); a missing item key is an error unless optional.
fn write_keys(
    dir: &Path,
    data: &std::collections::BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: Option<bool>,
    missing: impl Fn(&str) -> ConfigError,
) -> Result<(), ConfigError> {
    let mode = default_mode.unwrap_or(0o644);
    match items {
        None => {
            for (key, value) in data {
                write_file(dir, key, value, mode)?;
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(value) => write_file(dir, &item.path, value, item.mode.unwrap_or(mode))?,
                    None if optional == Some(true) => {}
                    None => return Err(missing(&item.key)),
                }
            }
        }
    }
    Ok(())
}

fn write_downward<'a>(
    dir: &Path,
    pod: &Pod,
    container: &Container,
    items: impl Iterator<Item = &'a DownwardAPIVolumeFile>,
    default_mode: Option<i32>,
    ctx: &VolumeContext<'_>,
) -> Result<(), ConfigError> {
    for item in items {
        let value = if let Some(field) = &item.field_ref {
            downward::field_value(pod, &field.field_path, ctx.node)?
        } else if let Some(resource) = &item.resource_field_ref {
            downward::resource_value(pod, &container.name, resource, ctx.node)?
        } else {
            continue;
        };
        write_file(dir, &item.path, value.as_bytes(), item.mode.or(default_mode).unwrap_or(0o644))?;
    }
    Ok(())
}

fn write_file(dir: &Path, path: &str, content: &[u8], mode: i32) -> Result<(), ConfigError> {
    let file = dir.join(relative(path)?);
    if let Some(parent) = file.parent() {
        fs::create_dir_all(parent).map_err(io_error)?;
    }
    fs::write(&file, content).map_err(io_error)?;
    let mode = u32::try_from(mode).unwrap_or(0o644) & 0o7777;
    fs::set_permissions(&file, fs::Permissions::from_mode(mode)).map_err(io_error)
}

/// The kubelet's volume ownership for `fsGroup`, on a Secret, ConfigMap, downward-API or projected volume:
/// every file and folder group-owned by it and group-readable, so that the pod's non-root users read them
/// whatever the volume's mode.
fn own_by_group(path: &Path, group: u32) -> Result<(), ConfigError> {
    std::os::unix::fs::chown(path, None, Some(group)).map_err(io_error)?;
    let mode = fs::metadata(path).map_err(io_error)?.permissions().mode();
    let readable = if path.is_dir() { 0o050 } else { 0o040 };
    fs::set_permissions(path, fs::Permissions::from_mode((mode | readable) & 0o7777)).map_err(io_error)?;
    if path.is_dir() {
        for entry in fs::read_dir(path).map_err(io_error)? {
            own_by_group(&entry.map_err(io_error)?.path(), group)?;
        }
    }
    Ok(())
}

/// A relative path that stays inside its directory.
fn relative(path: &str) -> Result<&Path, ConfigError> {
    let p = Path::new(path);
    if p.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(p)
    } else {
        Err(ConfigError::Volume(format!("path {path:?} must be relative and must not contain '..'")))
    }
}

fn io_error(error: std::io::Error) -> ConfigError {
    ConfigError::Volume(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_group_owns_read_only_volumes_and_may_read_them() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("pod-runner-fs-group-{}", std::process::id()));
        let missing = |key: &str| ConfigError::Volume(format!("no {key}"));
        let data = [("key".to_string(), b"secret".to_vec())].into();
        let items = [KeyToPath { key: "key".into(), path: "sub/key".into(), mode: None }];
        write_keys(&dir, &data, Some(&items), Some(0o400), None, missing).unwrap();
        own_by_group(&dir, 65532).unwrap();
        let file = fs::metadata(dir.join("sub/key")).unwrap();
        assert_eq!((file.gid(), file.permissions().mode() & 0o777), (65532, 0o440));
        let sub = fs::metadata(dir.join("sub")).unwrap();
        assert_eq!((sub.gid(), sub.permissions().mode() & 0o050), (65532, 0o050));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn keys_and_items_are_written_with_modes() {
        let dir = std::env::temp_dir().join(format!("pod-runner-volumes-{}", std::process::id()));
        let data = [("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())].into();
        let missing = |key: &str| ConfigError::Volume(format!("no {key}"));
        write_keys(&dir.join("all"), &data, None, Some(0o600), None, missing).unwrap();
        assert_eq!(fs::read(dir.join("all/a")).unwrap(), b"1");
        let mode = fs::metadata(dir.join("all/b")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let items = [KeyToPath { key: "b".into(), path: "sub/bee".into(), mode: None }];
        write_keys(&dir.join("items"), &data, Some(&items), None, None, missing).unwrap();
        assert_eq!(fs::read(dir.join("items/sub/bee")).unwrap(), b"2");
        assert!(!dir.join("items/a").exists());
        let absent = [KeyToPath { key: "z".into(), path: "z".into(), mode: None }];
        assert!(write_keys(&dir.join("x"), &data, Some(&absent), None, None, missing).is_err());
        assert!(write_keys(&dir.join("x"), &data, Some(&absent), None, Some(true), missing).is_ok());
        assert!(relative("../etc").is_err() && relative("/etc").is_err() && relative("a/b").is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
