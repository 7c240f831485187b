//! Where the controllers watch: one namespace, or all.

use kube::{Api, Client, Resource};

/// Where the controller watches.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only this namespace; all namespaces when `None`.
    pub namespace: Option<String>,
}

impl Scope {
    /// The API of `K` in the watched namespace, or in all.
    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match &self.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
}
