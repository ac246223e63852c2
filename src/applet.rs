//! Which personality the binary runs as, chosen from argv[0].
//!
//! One binary is installed as `/usr/sbin/kexecctl` with links named after the
//! scripts it replaces. The basename of argv[0] picks the personality; under
//! its own name the binary also accepts `kexecctl <personality> ARGS...`,
//! which is what tests and `make check` use. Dispatch is a pure function of
//! the argument vector so that it can be tested without running anything.

use std::ffi::{OsStr, OsString};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applet {
    /// The native CLI (`kexecctl config`, `kexecctl load`, ...).
    Kexecctl,
    /// Debian's `/etc/init.d/kexec-load`.
    KexecLoad,
    /// Debian's `/sbin/coldreboot`.
    ColdReboot,
    /// Red Hat's kdump service (and Debian's kdump-tools).
    KdumpSetup,
    /// The one-shot fast reboot.
    FastReboot,
}

impl Applet {
    /// The personalities, as installed links are named.
    pub const PERSONALITIES: [Applet; 4] = [
        Applet::KexecLoad,
        Applet::ColdReboot,
        Applet::KdumpSetup,
        Applet::FastReboot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Applet::Kexecctl => "kexecctl",
            Applet::KexecLoad => "kexec-load",
            Applet::ColdReboot => "coldreboot",
            Applet::KdumpSetup => "kdump-setup",
            Applet::FastReboot => "fastreboot",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Applet::Kexecctl => "load, inspect and boot kexec kernels",
            Applet::KexecLoad => "load the next kernel for a kexec reboot (Debian's kexec-load)",
            Applet::ColdReboot => "reboot through the firmware, never kexec",
            Applet::KdumpSetup => "arm kdump: load the crash kernel (Red Hat's kdump service)",
            Applet::FastReboot => "reboot now into the running or default kernel via kexec",
        }
    }

    pub fn from_name(name: &str) -> Option<Applet> {
        Self::PERSONALITIES
            .into_iter()
            .chain([Applet::Kexecctl])
            .find(|a| a.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatch {
    /// Run `applet` with these arguments (the first one names the applet).
    Run(Applet, Vec<OsString>),
    /// argv[0] names nothing kexecctl knows.
    Unknown(String),
}

/// The applet name argv[0] stands for: its basename, without the `S20` /
/// `K01` prefix that sysv-rc gives links in `/etc/rc?.d`.
fn applet_name(argv0: &OsStr) -> String {
    let base = Path::new(argv0)
        .file_name()
        .unwrap_or(argv0)
        .to_string_lossy()
        .into_owned();
    let bytes = base.as_bytes();
    let rc_prefix = bytes.len() > 3
        && matches!(bytes[0], b'S' | b'K')
        && bytes[1].is_ascii_digit()
        && bytes[2].is_ascii_digit();
    if rc_prefix {
        base[3..].to_string()
    } else {
        base
    }
}

pub fn dispatch(args: Vec<OsString>) -> Dispatch {
    let Some(argv0) = args.first() else {
        return Dispatch::Run(Applet::Kexecctl, vec!["kexecctl".into()]);
    };
    let name = applet_name(argv0);
    match Applet::from_name(&name) {
        Some(Applet::Kexecctl) => {
            let personality = args
                .get(1)
                .and_then(|a| a.to_str())
                .and_then(Applet::from_name)
                .filter(|a| *a != Applet::Kexecctl);
            match personality {
                Some(applet) => Dispatch::Run(applet, args[1..].to_vec()),
                None => Dispatch::Run(Applet::Kexecctl, args),
            }
        }
        Some(applet) => Dispatch::Run(applet, args),
        None => Dispatch::Unknown(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Dispatch {
        dispatch(args.iter().map(OsString::from).collect())
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn test_basename_selects_personality() {
        for (path, applet) in [
            ("kexec-load", Applet::KexecLoad),
            ("/usr/sbin/kexec-load", Applet::KexecLoad),
            ("/etc/init.d/kexec-load", Applet::KexecLoad),
            ("/etc/rc6.d/K01kexec-load", Applet::KexecLoad),
            ("/sbin/coldreboot", Applet::ColdReboot),
            ("./kdump-setup", Applet::KdumpSetup),
            ("fastreboot", Applet::FastReboot),
            ("/usr/sbin/kexecctl", Applet::Kexecctl),
        ] {
            assert_eq!(run(&[path, "x"]), Dispatch::Run(applet, argv(&[path, "x"])));
        }
    }

    #[test]
    fn test_own_name_takes_personality_from_argv1() {
        assert_eq!(
            run(&["kexecctl", "kexec-load", "stop"]),
            Dispatch::Run(Applet::KexecLoad, argv(&["kexec-load", "stop"]))
        );
        assert_eq!(
            run(&["kexecctl", "config", "--json"]),
            Dispatch::Run(Applet::Kexecctl, argv(&["kexecctl", "config", "--json"]))
        );
        // `kexecctl kexecctl` is not a personality: clap reports it.
        assert_eq!(
            run(&["kexecctl", "kexecctl"]),
            Dispatch::Run(Applet::Kexecctl, argv(&["kexecctl", "kexecctl"]))
        );
    }

    #[test]
    fn test_unknown_name() {
        assert_eq!(
            run(&["/usr/bin/kexec-lod"]),
            Dispatch::Unknown("kexec-lod".into())
        );
        // An rc-style name that is not ours stays unknown.
        assert_eq!(run(&["S01foo"]), Dispatch::Unknown("foo".into()));
    }
}
