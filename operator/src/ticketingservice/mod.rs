//! The TicketingService controller's steps, one module each, beside `clusterfetch`: `validate` (what depends
//! on the cluster), `rollout` (the plan: migrate first, then roll), `build` (pure: every child, assembled
//! from `workload`, `database`, `topics`, `entry`, `network`, `monitoring`), `status` (pure). `component`
//! holds the four components' facts, `config` the environment contract with their binaries, `discovery`
//! which optional APIs the cluster has.

pub mod build;
pub mod component;
pub mod config;
pub mod database;
pub mod discovery;
pub mod entry;
pub mod monitoring;
pub mod network;
pub mod rollout;
pub mod status;
pub mod topics;
pub mod validate;
pub mod workload;

#[cfg(test)]
pub(crate) mod fixtures;
