//! The one error type of kexecctl.
//!
//! Every failure carries the exit code it ends the program with and, where it
//! concerns a file, the path (and line and column) it concerns. `main` prints
//! it once, on one line, as `<personality>: <location>: <message>`. The exit
//! codes are the LSB init-script vocabulary, so the init scripts and units
//! can pass kexecctl's status straight through.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// LSB exit codes (LSB 5.0, "Init Script Actions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Generic or unspecified error.
    Failure = 1,
    /// Invalid or excess arguments.
    Usage = 2,
    /// Unimplemented feature (also: "program is not running" for `status`).
    Unimplemented = 3,
    /// User had insufficient privilege.
    Privilege = 4,
    /// Program is not installed, or the system cannot do it.
    NotInstalled = 5,
    /// Program is not configured (invalid or missing configuration).
    NotConfigured = 6,
}

impl ExitCode {
    pub const ALL: [ExitCode; 6] = [
        ExitCode::Failure,
        ExitCode::Usage,
        ExitCode::Unimplemented,
        ExitCode::Privilege,
        ExitCode::NotInstalled,
        ExitCode::NotConfigured,
    ];

    pub fn code(self) -> i32 {
        self as i32
    }

    /// A short machine-readable name (JSON `error.kind`).
    pub fn name(self) -> &'static str {
        match self {
            ExitCode::Failure => "failure",
            ExitCode::Usage => "usage",
            ExitCode::Unimplemented => "unimplemented",
            ExitCode::Privilege => "privilege",
            ExitCode::NotInstalled => "not-installed",
            ExitCode::NotConfigured => "not-configured",
        }
    }

    /// What the code means, for the README's and the man pages' table.
    pub fn description(self) -> &'static str {
        match self {
            ExitCode::Failure => {
                "generic failure: the kernel refused a load (EINVAL, EBUSY, ENOMEM, ...), a \
                 program failed, a kexec returned"
            }
            ExitCode::Usage => {
                "usage error: bad option or argument, unknown personality, --root naming no \
                 directory, a command that acts on the running system given a --root tree"
            }
            ExitCode::Unimplemented => {
                "for status: not loaded / not operational; for \
                 kexec-load: unknown action"
            }
            ExitCode::Privilege => {
                "insufficient privilege: EPERM/EACCES, signature or lockdown refusal, \
                 kexec_load_disabled"
            }
            ExitCode::NotInstalled => {
                "not installed or unsupported: a missing or empty kernel, initrd or needed \
                 file (/proc/cmdline when APPEND is empty), no kexec support, no mkdumprd"
            }
            ExitCode::NotConfigured => {
                "not configured: invalid or missing configuration (a shell construct kexecctl \
                 does not read, a file named with --file that is missing, no crash memory \
                 reserved, a command line too long for the new kernel)"
            }
        }
    }
}

/// Where in a file an error was found. Line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ExitCode,
    pub location: Option<Location>,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Error {
            code,
            location: None,
            message: message.into(),
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Failure, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, message)
    }

    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(ExitCode::NotConfigured, message)
    }

    pub fn not_installed(message: impl Into<String>) -> Self {
        Self::new(ExitCode::NotInstalled, message)
    }

    /// Attaches the file the error concerns (keeps an existing line/column).
    pub fn in_file(mut self, path: impl Into<PathBuf>) -> Self {
        match &mut self.location {
            Some(loc) => loc.path = path.into(),
            None => {
                self.location = Some(Location {
                    path: path.into(),
                    line: None,
                    column: None,
                })
            }
        }
        self
    }

    pub fn at(mut self, path: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        self.location = Some(Location {
            path: path.into(),
            line: Some(line),
            column: Some(column),
        });
        self
    }

    /// Rewrites the message, keeping code and location.
    pub fn with_message(mut self, f: impl FnOnce(&str) -> String) -> Self {
        self.message = f(&self.message);
        self
    }

    /// An I/O error on `path`, with the exit code an admin expects: a missing
    /// file is "not installed", a permission problem "insufficient privilege".
    pub fn io(path: &Path, err: &io::Error) -> Self {
        let code = match err.kind() {
            io::ErrorKind::NotFound => ExitCode::NotInstalled,
            io::ErrorKind::PermissionDenied => ExitCode::Privilege,
            _ => ExitCode::Failure,
        };
        Error::new(code, io_message(err)).in_file(path)
    }
}

/// The OS message without Rust's " (os error N)" suffix, lower-cased first
/// letter, so that it reads well after "path: ".
fn io_message(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `fs::read(&p).at_path(&p)?` attaches the path to an I/O error.
pub trait IoResultExt<T> {
    fn at_path(self, path: &Path) -> Result<T>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn at_path(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_display_with_location() {
        let e = Error::not_configured("unbalanced quote").at("/etc/default/kexec", 3, 7);
        assert_eq!(e.to_string(), "/etc/default/kexec:3:7: unbalanced quote");
        assert_eq!(e.code.code(), 6);
    }

    #[test]
    fn test_io_error_codes() {
        let missing = io::Error::from(io::ErrorKind::NotFound);
        let e = Error::io(Path::new("/boot/vmlinuz"), &missing);
        assert_eq!(e.code, ExitCode::NotInstalled);
        assert!(e.to_string().starts_with("/boot/vmlinuz: "), "{e}");
        let denied = io::Error::from_raw_os_error(nix::libc::EACCES);
        let e = Error::io(Path::new("/x"), &denied);
        assert_eq!(e.code, ExitCode::Privilege);
        assert_eq!(e.to_string(), "/x: permission denied");
    }
}
