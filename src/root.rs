//! The root directory every system path is resolved beneath (`--root`).
//!
//! kexecctl never opens `/etc/...`, `/boot/...` or `/proc/...` directly: it
//! asks [`Root::resolve`], which walks the path component by component and
//! follows symlinks *inside* the root, the way `chroot` would see them. An
//! absolute link such as `/vmlinuz -> /boot/vmlinuz-6.1.0-13-amd64` in an
//! image therefore points into the image, never at the host. This is what
//! lets the tests run the real binary against fixture trees, and admins run it
//! against chroots and mounted images.
//!
//! On Linux 5.6 and later the kernel does the walk in one call: `openat2`
//! with `RESOLVE_IN_ROOT` on the root directory, race-free, and the file
//! found is named by its `/proc/self/fd` link. Where `openat2` is missing
//! (older kernels, some sandboxes) the walk is done here, one `readlink`
//! per component, with the same result.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Linux gives up after 40 links (`MAXSYMLINKS`); so do we.
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
    /// The root opened for `openat2` and its canonical path, opened on first
    /// use; `None` when `openat2` cannot be used.
    kernel: Arc<OnceLock<Option<(OwnedFd, PathBuf)>>>,
}

impl PartialEq for Root {
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir
    }
}

impl Eq for Root {}

/// A path as the system inside the root names it, and where it is on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Absolute path inside the root, symlinks resolved (for messages and JSON).
    pub inside: PathBuf,
    /// The same file as seen from this process (for opening).
    pub host: PathBuf,
}

impl Default for Root {
    fn default() -> Self {
        Root::new("/")
    }
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root {
            dir: dir.into(),
            kernel: Arc::new(OnceLock::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_host_root(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// Resolves `path` (absolute, or relative to the root) beneath the root.
    ///
    /// Components that do not exist are kept as they are, so the result can
    /// be used to report "no such file" with the path the admin expects.
    /// Fails only on a symlink loop.
    pub fn resolve(&self, path: impl AsRef<Path>) -> io::Result<Resolved> {
        let path = path.as_ref();
        if self.is_host_root() {
            // The kernel resolves links for us; keep the admin's spelling.
            let inside = Path::new("/").join(path);
            return Ok(Resolved {
                host: inside.clone(),
                inside,
            });
        }
        if let Some(found) = self.resolve_in_kernel(path)? {
            return Ok(found);
        }
        self.walk(path)
    }

    /// `openat2(root, path, RESOLVE_IN_ROOT)`: `Ok(None)` when the kernel
    /// cannot answer (no openat2, or a component is missing: the walk then
    /// keeps the admin's spelling of what does not exist).
    fn resolve_in_kernel(&self, path: &Path) -> io::Result<Option<Resolved>> {
        use nix::errno::Errno;
        use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
        let Some((dir_fd, canonical)) = self
            .kernel
            .get_or_init(|| {
                let fd = nix::fcntl::open(
                    &self.dir,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ok()?;
                let canonical = fs::canonicalize(&self.dir).ok()?;
                Some((fd, canonical))
            })
            .as_ref()
        else {
            return Ok(None);
        };
        let relative = path.strip_prefix("/").unwrap_or(path);
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = match openat2(dir_fd, relative, how) {
            Ok(fd) => fd,
            Err(Errno::ELOOP) => return Err(io::Error::from_raw_os_error(nix::libc::ELOOP)),
            // Most misses are a missing last component (a marker, an
            // optional file): resolve the directory, keep the name. Unless
            // the name is a dangling link, whose target the walk reports.
            Err(Errno::ENOENT) => {
                let (Some(parent), Some(name)) = (relative.parent(), relative.file_name()) else {
                    return Ok(None);
                };
                if parent.as_os_str().is_empty() || name == ".." {
                    return Ok(None);
                }
                let Some(dir) = self.resolve_in_kernel(parent)? else {
                    return Ok(None);
                };
                let candidate = dir.host.join(name);
                if fs::symlink_metadata(&candidate).is_ok() {
                    return Ok(None);
                }
                return Ok(Some(Resolved {
                    inside: dir.inside.join(name),
                    host: candidate,
                }));
            }
            Err(_) => return Ok(None),
        };
        use std::os::fd::AsRawFd;
        let Ok(host) = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) else {
            return Ok(None);
        };
        let Ok(below) = host.strip_prefix(canonical) else {
            return Ok(None);
        };
        Ok(Some(Resolved {
            inside: Path::new("/").join(below),
            host: self.dir.join(below),
        }))
    }

    /// The walk done here, component by component.
    fn walk(&self, path: &Path) -> io::Result<Resolved> {
        let mut inside: Vec<OsString> = Vec::new();
        // Components still to walk, in reverse order (a stack).
        let mut pending: Vec<OsString> = components_reversed(path);
        let mut links = 0;
        while let Some(name) = pending.pop() {
            match name.to_str() {
                Some("") | Some(".") => continue,
                Some("..") => {
                    inside.pop();
                    continue;
                }
                _ => {}
            }
            inside.push(name);
            let host = self.host_path(&inside);
            let Ok(target) = fs::read_link(&host) else {
                continue; // not a link, or does not exist
            };
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(io::Error::from_raw_os_error(nix::libc::ELOOP));
            }
            inside.pop();
            if target.is_absolute() {
                inside.clear();
            }
            pending.extend(components_reversed(&target));
        }
        Ok(Resolved {
            host: self.host_path(&inside),
            inside: inside.iter().fold(PathBuf::from("/"), |p, c| p.join(c)),
        })
    }

    /// Shortcut for the host path of [`Root::resolve`]; a symlink loop yields
    /// a path that fails with ELOOP when opened, which is what callers report.
    pub fn host(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.resolve(path)
            .map(|r| r.host)
            .unwrap_or_else(|_| self.dir.join(path.strip_prefix("/").unwrap_or(path)))
    }

    fn host_path(&self, inside: &[OsString]) -> PathBuf {
        inside.iter().fold(self.dir.clone(), |p, c| p.join(c))
    }
}

fn components_reversed(path: &Path) -> Vec<OsString> {
    let mut parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    parts.reverse();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn test_absolute_symlink_stays_inside_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        fs::create_dir_all(tmp.path().join("boot")).unwrap();
        fs::write(tmp.path().join("boot/vmlinuz-6.1.0-13-amd64"), b"k").unwrap();
        symlink("/boot/vmlinuz-6.1.0-13-amd64", tmp.path().join("vmlinuz")).unwrap();
        let r = root.resolve("/vmlinuz").unwrap();
        assert_eq!(r.inside, Path::new("/boot/vmlinuz-6.1.0-13-amd64"));
        assert_eq!(r.host, tmp.path().join("boot/vmlinuz-6.1.0-13-amd64"));
    }

    #[test]
    fn test_relative_symlink_and_dotdot_cannot_escape() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        fs::create_dir_all(tmp.path().join("boot")).unwrap();
        symlink("../../../../etc/passwd", tmp.path().join("boot/evil")).unwrap();
        symlink("boot/vmlinuz-x", tmp.path().join("vmlinuz")).unwrap();
        assert_eq!(
            root.resolve("/boot/evil").unwrap().host,
            tmp.path().join("etc/passwd")
        );
        assert_eq!(
            root.resolve("vmlinuz").unwrap().inside,
            Path::new("/boot/vmlinuz-x")
        );
    }

    #[test]
    fn test_symlinked_directory_in_the_middle() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        fs::create_dir_all(tmp.path().join("real/grub")).unwrap();
        symlink("/real", tmp.path().join("boot")).unwrap();
        let r = root.resolve("/boot/grub/grub.cfg").unwrap();
        assert_eq!(r.inside, Path::new("/real/grub/grub.cfg"));
    }

    #[test]
    fn test_symlink_loop_is_eloop() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        symlink("/b", tmp.path().join("a")).unwrap();
        symlink("/a", tmp.path().join("b")).unwrap();
        let err = root.resolve("/a").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::ELOOP));
    }

    #[test]
    fn test_the_kernel_and_the_walk_agree() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("real/grub")).unwrap();
        fs::write(tmp.path().join("real/grub/grub.cfg"), b"x").unwrap();
        symlink("/real", tmp.path().join("boot")).unwrap();
        symlink("../../../../../real/grub", tmp.path().join("real/up")).unwrap();
        let root = Root::new(tmp.path());
        symlink("/real/nothing", tmp.path().join("dangling")).unwrap();
        for path in [
            "/boot/grub/grub.cfg",
            "/real/up/grub.cfg",
            "/boot",
            "/",
            "/boot/missing",
            "/boot/grub/missing",
            "/missing/deeper",
            "/dangling",
        ] {
            assert_eq!(
                root.resolve(path).unwrap(),
                root.walk(Path::new(path)).unwrap(),
                "{path}"
            );
        }
    }

    #[test]
    fn test_host_root_is_identity() {
        let r = Root::default().resolve("/proc/cmdline").unwrap();
        assert_eq!(r.host, Path::new("/proc/cmdline"));
        assert_eq!(r.inside, Path::new("/proc/cmdline"));
    }
}
