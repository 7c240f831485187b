//! The Secrets and ConfigMaps a container refers to (env, envFrom, volumes), fetched from the API before it
//! starts. Owns fetching and key look-up; resolving values into env or files is `env.rs`'s and
//! `volumes.rs`'s job.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};

use crate::error::ConfigError;

/// Secrets and ConfigMaps of one namespace by name; `None` records that the object does not exist.
#[derive(Debug, Clone, Default)]
pub struct Refs {
    /// The namespace the objects were read from.
    pub namespace: String,
    /// Secrets by name.
    pub secrets: BTreeMap<String, Option<Secret>>,
    /// ConfigMaps by name.
    pub config_maps: BTreeMap<String, Option<ConfigMap>>,
}

impl Refs {
    /// Fetches the named objects (a 404 becomes `None`).
    pub async fn fetch(
        client: &Client,
        namespace: &str,
        secret_names: impl IntoIterator<Item = String>,
        config_map_names: impl IntoIterator<Item = String>,
    ) -> Result<Refs, ConfigError> {
        let secrets_api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let config_maps_api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let mut refs = Refs { namespace: namespace.to_string(), ..Refs::default() };
        for name in secret_names {
            let secret = secrets_api.get_opt(&name).await.map_err(|e| ConfigError::Api(e.to_string()))?;
            refs.secrets.insert(name, secret);
        }
        for name in config_map_names {
            let config_map = config_maps_api.get_opt(&name).await.map_err(|e| ConfigError::Api(e.to_string()))?;
            refs.config_maps.insert(name, config_map);
        }
        Ok(refs)
    }

    /// A Secret's data (`None` if it does not exist).
    pub fn secret_data(&self, name: &str) -> Result<BTreeMap<String, Vec<u8>>, ConfigError> {
        let secret = self.secrets.get(name).and_then(Option::as_ref);
        let secret = secret.ok_or_else(|| ConfigError::SecretNotFound(name.to_string()))?;
        Ok(secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect())
    }

    /// A ConfigMap's data and binary data.
    pub fn config_map_data(&self, name: &str) -> Result<BTreeMap<String, Vec<u8>>, ConfigError> {
        let config_map = self.config_maps.get(name).and_then(Option::as_ref);
        let config_map = config_map.ok_or_else(|| ConfigError::ConfigMapNotFound(name.to_string()))?;
        let text = config_map.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes()));
        let binary = config_map.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone()));
        Ok(text.chain(binary).collect())
    }

    /// One key of a Secret.
    pub fn secret_key(&self, name: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
        self.secret_data(name)?.remove(key).ok_or_else(|| ConfigError::SecretKeyMissing {
            key: key.to_string(),
            namespace: self.namespace.clone(),
            name: name.to_string(),
        })
    }

    /// One key of a ConfigMap.
    pub fn config_map_key(&self, name: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
        self.config_map_data(name)?.remove(key).ok_or_else(|| ConfigError::ConfigMapKeyMissing {
            key: key.to_string(),
            namespace: self.namespace.clone(),
            name: name.to_string(),
        })
    }
}

/// `Ok(None)` instead of the error when the reference is optional.
pub fn optional<T>(result: Result<T, ConfigError>, optional: Option<bool>) -> Result<Option<T>, ConfigError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ConfigError::Api(message)) => Err(ConfigError::Api(message)),
        Err(_) if optional == Some(true) => Ok(None),
        Err(error) => Err(error),
    }
}
