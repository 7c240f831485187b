//! The kubelet's part for Microfleet's test cluster: registers a Node and runs the pods bound to it as
//! local processes (no container runtime), reporting their status like a kubelet.
//!
//! [`runner`] watches the node's pods and gives each a [`pod`] task, which runs a [`container`] task per
//! container (its `preStop` hook: [`hooks`]); [`network`] gives a pod an address of its own when the runner has a pod network, and
//! [`services`] makes Service ClusterIPs reachable on it. Pure parts
//! (status derivation, env resolution, quantities, image references, termination messages, security
//! contexts) are in [`status`], [`env`], [`downward`], [`quantity`], [`images`], [`logs`] and [`security`].

pub mod cli;
pub mod container;
pub mod downward;
pub mod env;
pub mod error;
pub mod hooks;
pub mod images;
pub mod logs;
pub mod memory;
pub mod network;
pub mod node;
pub mod objects;
pub mod pod;
pub mod probes;
pub mod process;
pub mod quantity;
pub mod runner;
pub mod runtime;
pub mod security;
pub mod services;
pub mod status;
pub mod volumes;
