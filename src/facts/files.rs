//! A snapshot of the files a planner asks about — whether a path is a
//! regular file, its modification time, whether a directory is writable —
//! taken once under the root, so that planners stay pure functions and
//! their tests build the table from literals instead of a file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::root::Root;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub kind: Kind,
    pub len: u64,
    /// Seconds since the epoch (kdumpctl compares whole seconds).
    pub mtime: i64,
    /// Writable by this process (for directories: files can be created).
    pub writable: bool,
}

/// Paths inside the root → what is there. A path not in the table does not
/// exist (or was not asked about).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTable {
    entries: BTreeMap<PathBuf, FileInfo>,
}

impl FileTable {
    /// Looks at each of `paths` under `root`, following symlinks inside it.
    pub fn stat<P: AsRef<Path>>(root: &Root, paths: impl IntoIterator<Item = P>) -> Self {
        let mut table = FileTable::default();
        for path in paths {
            let path = path.as_ref();
            let host = root.host(path);
            let Ok(meta) = std::fs::metadata(&host) else {
                continue;
            };
            let kind = if meta.is_file() {
                Kind::File
            } else if meta.is_dir() {
                Kind::Dir
            } else {
                Kind::Other
            };
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            let writable = nix::unistd::access(&host, nix::unistd::AccessFlags::W_OK).is_ok();
            table.insert(
                path,
                FileInfo {
                    kind,
                    len: meta.len(),
                    mtime,
                    writable,
                },
            );
        }
        table
    }

    pub fn insert(&mut self, path: impl Into<PathBuf>, info: FileInfo) {
        self.entries.insert(path.into(), info);
    }

    /// For tests: a regular file of `len` bytes modified at `mtime`.
    pub fn with_file(mut self, path: &str, mtime: i64) -> Self {
        self.insert(
            path,
            FileInfo {
                kind: Kind::File,
                len: 1,
                mtime,
                writable: true,
            },
        );
        self
    }

    /// For tests: a directory, writable or not.
    pub fn with_dir(mut self, path: &str, writable: bool) -> Self {
        self.insert(
            path,
            FileInfo {
                kind: Kind::Dir,
                len: 0,
                mtime: 0,
                writable,
            },
        );
        self
    }

    pub fn get(&self, path: &Path) -> Option<&FileInfo> {
        self.entries.get(path)
    }

    pub fn is_file(&self, path: &Path) -> bool {
        self.get(path).is_some_and(|i| i.kind == Kind::File)
    }

    pub fn exists(&self, path: &Path) -> bool {
        self.get(path).is_some()
    }

    pub fn mtime(&self, path: &Path) -> Option<i64> {
        self.get(path).map(|i| i.mtime)
    }

    pub fn writable(&self, path: &Path) -> bool {
        self.get(path).is_some_and(|i| i.writable)
    }
}
