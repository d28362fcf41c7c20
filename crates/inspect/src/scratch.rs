//! A private directory for intermediate files (trial links, partial links), removed with
//! everything in it when dropped.

use std::path::PathBuf;

use crate::{Error, Result};

pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// A new directory under the system's temporary directory, named for `purpose`, this
    /// process and a counter, so that concurrent uses never share one.
    pub(crate) fn new(purpose: &str) -> Result<Scratch> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "polylink-{purpose}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|cause| Error::Write {
            path: dir.clone(),
            cause,
        })?;
        Ok(Scratch(dir))
    }

    /// The path of `name` in the directory, as a word for a command line.
    pub(crate) fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
