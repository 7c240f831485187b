//! The node's "image store": which local binary an image reference runs. Owns the mapping and the
//! reference parsing; it must not touch processes or the API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Image repositories mapped to the local binaries that stand in for them.
#[derive(Debug, Clone, Default)]
pub struct ImageMap(HashMap<String, PathBuf>);

impl ImageMap {
    /// Builds the map from `(repository, binary)` pairs; a later pair for the same repository wins.
    pub fn new(entries: impl IntoIterator<Item = (String, PathBuf)>) -> ImageMap {
        ImageMap(entries.into_iter().collect())
    }

    /// The binary an image reference runs, matched by its repository (any tag or digest).
    pub fn binary_for(&self, image: &str) -> Option<&Path> {
        self.0.get(repository(image)).map(PathBuf::as_path)
    }
}

/// Parses one `--image REPOSITORY=/abs/path` argument.
pub fn parse_mapping(arg: &str) -> Result<(String, PathBuf), String> {
    let (repo, path) = arg.split_once('=').ok_or_else(|| format!("expected REPOSITORY=/abs/path, got {arg:?}"))?;
    let path = PathBuf::from(path);
    if repo.is_empty() || !path.is_absolute() {
        return Err(format!("expected a repository and an absolute path, got {arg:?}"));
    }
    Ok((repository(repo).to_string(), path))
}

/// The repository of an image reference: the reference without its `@digest` and `:tag`.
pub fn repository(image: &str) -> &str {
    let without_digest = image.split_once('@').map_or(image, |(name, _)| name);
    match without_digest.rfind(':') {
        // a colon after the last slash starts the tag; one before it belongs to a registry's port
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_strips_tag_and_digest_but_not_a_registry_port() {
        assert_eq!(repository("microfleet-testbox"), "microfleet-testbox");
        assert_eq!(repository("microfleet-testbox:e2e"), "microfleet-testbox");
        assert_eq!(repository("microfleet-testbox@sha256:abc"), "microfleet-testbox");
        assert_eq!(repository("microfleet-testbox:1@sha256:abc"), "microfleet-testbox");
        assert_eq!(repository("localhost:5000/team/app"), "localhost:5000/team/app");
        assert_eq!(repository("localhost:5000/team/app:v2"), "localhost:5000/team/app");
    }

    #[test]
    fn any_tag_of_a_mapped_repository_runs_its_binary() {
        let map = ImageMap::new([parse_mapping("microfleet-testbox=/bin/testbox").unwrap()]);
        assert_eq!(map.binary_for("microfleet-testbox:e2e"), Some(Path::new("/bin/testbox")));
        assert_eq!(map.binary_for("microfleet-testbox"), Some(Path::new("/bin/testbox")));
        assert_eq!(map.binary_for("nginx:1.27"), None);
    }

    #[test]
    fn mappings_need_an_absolute_path() {
        assert!(parse_mapping("app=relative/bin").is_err());
        assert!(parse_mapping("app").is_err());
        assert!(parse_mapping("=/bin/x").is_err());
        assert_eq!(parse_mapping("app:v1=/bin/x").unwrap().0, "app");
    }
}
