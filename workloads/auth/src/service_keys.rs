//! `migrate`'s registration of the pre-provisioned service keys: reads `SERVICE_KEYS_DIR` (one file per
//! service, named after it, holding its key; hidden entries — a mounted Secret's `..data` — and directories
//! skipped), checks every file first, then registers the keys through `repository` all or none (a refused file
//! changes nothing), each key stored or revoked with its audit row in that transaction. Errors name the file and the fix, never
//! the key; the decisions are `domain::service_keys`'.

use std::path::{Path, PathBuf};

use deadpool_postgres::Pool;
use jiff::Timestamp;
use microfleet_common::database::DbError;

use crate::domain::service_keys::{parse, ServiceKey, ServiceKeyError};
use crate::repository::{self, ServiceKeyChange};

/// The largest key file read (a key is 76 characters).
const MAX_FILE_BYTES: u64 = 4096;

/// Why the service keys could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The directory cannot be listed.
    #[error(
        "SERVICE_KEYS_DIR {dir}: cannot list it ({reason}): mount the service keys there, or unset SERVICE_KEYS_DIR"
    )]
    Dir {
        /// The directory.
        dir: String,
        /// Why.
        reason: String,
    },
    /// A file cannot be read.
    #[error("SERVICE_KEYS_DIR file {file}: cannot read it ({reason})")]
    Read {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A file is refused.
    #[error("SERVICE_KEYS_DIR file {file} {error}")]
    Key {
        /// The file.
        file: String,
        /// Why, and the fix.
        error: ServiceKeyError,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
}

/// What registering one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The service (the file's name).
    pub name: String,
    /// The key's visible prefix.
    pub prefix: String,
    /// Whether it was there already, or stored (and what it replaced).
    pub change: ServiceKeyChange,
}

/// The key files of `dir`, parsed, by name.
pub fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, ServiceKey)>, RegisterError> {
    let shown = || dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|error| RegisterError::Dir { dir: shown(), reason: error.kind().to_string() })?;
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| RegisterError::Dir { dir: shown(), reason: error.kind().to_string() })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let file = || path.display().to_string();
        if name.starts_with('.') {
            continue;
        }
        let metadata = std::fs::metadata(&path)
            .map_err(|error| RegisterError::Read { file: file(), reason: error.kind().to_string() })?;
        if metadata.is_dir() {
            continue;
        }
        if metadata.len() > MAX_FILE_BYTES {
            return Err(RegisterError::Key { file: file(), error: ServiceKeyError::Malformed });
        }
        let content = std::fs::read_to_string(&path)
            .map_err(|error| RegisterError::Read { file: file(), reason: error.kind().to_string() })?;
        let key = parse(&name, &content).map_err(|error| RegisterError::Key { file: file(), error })?;
        keys.push((path, key));
    }
    keys.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    Ok(keys)
}

/// Registers every key file of `dir`, all or none (every file is checked before any key is stored).
pub async fn register_dir(pool: &Pool, dir: &Path, now: Timestamp) -> Result<Vec<Registered>, RegisterError> {
    let files = read_dir(dir)?;
    let keys: Vec<ServiceKey> = files.iter().map(|(_, key)| key.clone()).collect();
    let changes = repository::register_service_keys(pool, &keys, now).await?.map_err(|(index, error)| {
        let file = files.get(index).map(|(path, _)| path.display().to_string()).unwrap_or_default();
        RegisterError::Key { file, error }
    })?;
    // the audit rows were written with the changes, in their transaction
    Ok(keys
        .into_iter()
        .zip(changes)
        .map(|(key, change)| Registered { name: key.name, prefix: key.prefix, change })
        .collect())
}
