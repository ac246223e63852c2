//! Which personality the binary runs as, chosen from argv[0].
//!
//! One binary is installed as `/usr/sbin/kexecctl` with links named after the
//! scripts it replaces. The basename of argv[0] picks the personality; under
//! its own name the binary also accepts a personality wherever it accepts a
//! command — `kexecctl kexec-load stop`, `kexecctl --root DIR kexec-load
//! status` — and `kexecctl help kexec-load`. Dispatch is a pure function of
//! the argument vector so that it can be tested without running anything.

use std::ffi::{OsStr, OsString};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
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

impl Personality {
    /// The personalities, as installed links are named.
    pub const PERSONALITIES: [Personality; 4] = [
        Personality::KexecLoad,
        Personality::ColdReboot,
        Personality::KdumpSetup,
        Personality::FastReboot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Personality::Kexecctl => "kexecctl",
            Personality::KexecLoad => "kexec-load",
            Personality::ColdReboot => "coldreboot",
            Personality::KdumpSetup => "kdump-setup",
            Personality::FastReboot => "fastreboot",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Personality::Kexecctl => "load, inspect and boot kexec kernels",
            Personality::KexecLoad => {
                "load the next kernel for a kexec reboot (Debian's kexec-load)"
            }
            Personality::ColdReboot => "reboot through the firmware, never kexec",
            Personality::KdumpSetup => "arm kdump: load the crash kernel (Red Hat's kdump service)",
            Personality::FastReboot => "reboot now into the running or default kernel via kexec",
        }
    }

    pub fn from_name(name: &str) -> Option<Personality> {
        Self::PERSONALITIES
            .into_iter()
            .chain([Personality::Kexecctl])
            .find(|a| a.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatch {
    /// Run `applet` with these arguments (the first one names the applet).
    Run(Personality, Vec<OsString>),
    /// argv[0] names nothing kexecctl knows.
    Unknown(String),
}

/// The applet name argv[0] stands for: its basename, without the `S20` /
/// `K01` prefix that sysv-rc gives links in `/etc/rc?.d`.
fn personality_name(argv0: &OsStr) -> String {
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

/// Options of `kexecctl` that take a value as the next argument.
const OPTIONS_WITH_VALUES: &[&str] = &["--root"];

/// Where `kexecctl`'s command is: the first argument that is neither an
/// option nor an option's value (`kexecctl --root DIR -v kexec-load stop`).
fn command_index(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_str()?;
        if arg == "--" {
            return None;
        }
        if OPTIONS_WITH_VALUES.contains(&arg) {
            i += 2;
            continue;
        }
        if !arg.starts_with('-') || arg == "-" {
            return Some(i);
        }
        i += 1;
    }
    None
}

pub fn dispatch(args: Vec<OsString>) -> Dispatch {
    let Some(argv0) = args.first() else {
        return Dispatch::Run(Personality::Kexecctl, vec!["kexecctl".into()]);
    };
    let name = personality_name(argv0);
    match Personality::from_name(&name) {
        Some(Personality::Kexecctl) => {
            let found = command_index(&args).and_then(|i| {
                let personality = args[i]
                    .to_str()
                    .and_then(Personality::from_name)
                    .filter(|p| *p != Personality::Kexecctl)?;
                Some((i, personality))
            });
            match found {
                // The personality's own options may come before its name:
                // `kexecctl --root DIR kexec-load status`.
                Some((i, personality)) => {
                    let mut rest = vec![args[i].clone()];
                    rest.extend_from_slice(&args[1..i]);
                    rest.extend_from_slice(&args[i + 1..]);
                    Dispatch::Run(personality, rest)
                }
                None => Dispatch::Run(Personality::Kexecctl, args),
            }
        }
        Some(personality) => Dispatch::Run(personality, args),
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
            ("kexec-load", Personality::KexecLoad),
            ("/usr/sbin/kexec-load", Personality::KexecLoad),
            ("/etc/init.d/kexec-load", Personality::KexecLoad),
            ("/etc/rc6.d/K01kexec-load", Personality::KexecLoad),
            ("/sbin/coldreboot", Personality::ColdReboot),
            ("./kdump-setup", Personality::KdumpSetup),
            ("fastreboot", Personality::FastReboot),
            ("/usr/sbin/kexecctl", Personality::Kexecctl),
        ] {
            assert_eq!(run(&[path, "x"]), Dispatch::Run(applet, argv(&[path, "x"])));
        }
    }

    #[test]
    fn test_own_name_takes_personality_from_argv1() {
        assert_eq!(
            run(&["kexecctl", "kexec-load", "stop"]),
            Dispatch::Run(Personality::KexecLoad, argv(&["kexec-load", "stop"]))
        );
        assert_eq!(
            run(&["kexecctl", "config", "--json"]),
            Dispatch::Run(
                Personality::Kexecctl,
                argv(&["kexecctl", "config", "--json"])
            )
        );
        // `kexecctl kexecctl` is not a personality: clap reports it.
        assert_eq!(
            run(&["kexecctl", "kexecctl"]),
            Dispatch::Run(Personality::Kexecctl, argv(&["kexecctl", "kexecctl"]))
        );
    }

    #[test]
    fn test_personality_after_global_options() {
        assert_eq!(
            run(&["kexecctl", "--root", "/t", "-v", "kexec-load", "status"]),
            Dispatch::Run(
                Personality::KexecLoad,
                argv(&["kexec-load", "--root", "/t", "-v", "status"])
            )
        );
        // A value of --root that happens to be a personality's name is a value.
        assert_eq!(
            run(&["kexecctl", "--root", "coldreboot", "status"]),
            Dispatch::Run(
                Personality::Kexecctl,
                argv(&["kexecctl", "--root", "coldreboot", "status"])
            )
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
