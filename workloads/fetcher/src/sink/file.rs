//! The file sink, for local runs: NDJSON to `<path>.partial`, renamed to `<path>` on commit and removed on
//! abort; or straight to stdout (no staging: what you see is what was fetched).

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::PathBuf,
};

use super::Batch;
use crate::retry::Fault;

/// A file or stdout receiver.
pub struct FileSink {
    target: Option<PathBuf>,
    writer: Option<BufWriter<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink").field("target", &self.target).finish()
    }
}

impl FileSink {
    /// NDJSON to `path` (staged next to it), or to stdout when `None`.
    pub fn new(path: Option<PathBuf>) -> Result<FileSink, Fault> {
        let writer: Box<dyn Write + Send> = match &path {
            Some(path) => Box::new(
                File::create(partial(path))
                    .map_err(|e| Fault::permanent(format!("cannot create {}: {e}", partial(path).display())))?,
            ),
            None => Box::new(std::io::stdout()),
        };
        Ok(FileSink { target: path, writer: Some(BufWriter::with_capacity(256 * 1024, writer)) })
    }

    /// Writes the batch's items, one per line.
    pub fn send(&mut self, batch: &Batch) -> Result<(), Fault> {
        let writer = self.writer.as_mut().ok_or_else(|| Fault::permanent("the file sink is closed"))?;
        for item in batch.item_slices() {
            writer
                .write_all(item)
                .and_then(|_| writer.write_all(b"\n"))
                .map_err(|e| Fault::permanent(format!("cannot write the output: {e}")))?;
        }
        Ok(())
    }

    /// Flushes and moves the staged file into place.
    pub fn commit(&mut self) -> Result<(), Fault> {
        if let Some(mut writer) = self.writer.take() {
            writer.flush().map_err(|e| Fault::permanent(format!("cannot write the output: {e}")))?;
        }
        if let Some(path) = &self.target {
            std::fs::rename(partial(path), path)
                .map_err(|e| Fault::permanent(format!("cannot move the output into {}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// The file the run goes to (`None`: stdout).
    pub fn target(&self) -> Option<&std::path::Path> {
        self.target.as_deref()
    }
}

/// Removes the staged file of a run to `target` (nothing to do for stdout).
pub fn remove_staged(target: Option<&std::path::Path>) {
    if let Some(path) = target {
        let _ = std::fs::remove_file(partial(path));
    }
}

fn partial(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}
