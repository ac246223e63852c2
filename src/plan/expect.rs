//! What an orchestrator expects of a reboot, checked against `status`'s
//! facts: `kexecctl status --expect-next[=RELEASE]` before it (the next
//! reboot kexecs, into that release) and `--expect-booted[=RELEASE]`
//! after it (this boot came through kexec, into that release, and its
//! guarded attempt is confirmed). Pure: [`NextReboot`] and [`LastBoot`]
//! in, one [`Expectation`] out, whose exit code a rolling reboot's
//! `test_command` can use directly.

use serde::Serialize;

use crate::error::{Error, ExitCode};
use crate::plan::guard::LastBoot;
use crate::plan::reboot::NextReboot;

/// One checked expectation (`expect` in `kexecctl status --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expectation {
    /// `next` (`--expect-next`) or `booted` (`--expect-booted`).
    pub check: &'static str,
    /// The release asked for; `None`: any kernel.
    pub release: Option<String>,
    pub met: bool,
    /// Not met yet, but may be: the kexec boot's confirmation is still to
    /// come (kexecctl-confirm.service runs after multi-user.target).
    pub pending: bool,
    /// Why it is met or not, in one line.
    pub reason: String,
}

impl Expectation {
    fn new(check: &'static str, release: Option<&str>) -> Self {
        Expectation {
            check,
            release: release.map(str::to_string),
            met: false,
            pending: false,
            reason: String::new(),
        }
    }

    fn met(mut self, reason: String) -> Self {
        self.met = true;
        self.reason = reason;
        self
    }

    fn unmet(mut self, reason: String) -> Self {
        self.reason = reason;
        self
    }

    /// The error that ends `status` when this expectation is not met: exit 3
    /// ("not operational yet") while a confirmation is pending, else 1.
    pub fn error(&self) -> Option<Error> {
        if self.met {
            return None;
        }
        let code = if self.pending {
            ExitCode::Unimplemented
        } else {
            ExitCode::Failure
        };
        Some(Error::new(code, self.reason.clone()))
    }
}

/// `--expect-next[=RELEASE]`: the next reboot kexecs (into `release`).
/// A quarantined kernel, a cold-reboot marker, a guard that is required and
/// not ready, a configuration that loads nothing: each makes `next` a
/// firmware reboot, and its reason is the reason here.
pub fn next(next: &NextReboot, release: Option<&str>) -> Expectation {
    let e = Expectation::new("next", release);
    if next.via != "kexec" {
        return e.unmet(format!(
            "the next reboot goes through the firmware, not kexec: {}",
            next.reason
        ));
    }
    let kernel = next
        .kernel
        .as_ref()
        .map_or("an unknown kernel".to_string(), |k| k.display().to_string());
    let running = |r: &Option<String>| r.as_deref().unwrap_or("an unknown release").to_string();
    match release {
        Some(want) if next.release.as_deref() != Some(want) => e.unmet(format!(
            "the next reboot kexecs into {kernel} ({}), not {want}",
            running(&next.release)
        )),
        _ => e.met(format!(
            "the next reboot kexecs into {kernel} ({}): {}",
            running(&next.release),
            next.reason
        )),
    }
}

/// `--expect-booted[=RELEASE]`: this boot came through kexec (into
/// `release`) and, when it was a guarded attempt, `kexecctl confirm`
/// confirmed it. Without the guard there is no attempt to confirm: the
/// kexec itself (x86's boot protocol names the loader) is the proof.
pub fn booted(last: &LastBoot, release: Option<&str>) -> Expectation {
    let mut e = Expectation::new("booted", release);
    let running = last.release.as_deref().unwrap_or("an unknown release");
    let boot = format!(
        "this boot ({running}, boot id {})",
        last.boot_id.as_deref().unwrap_or("unknown")
    );
    if let Some(f) = &last.failed_attempt {
        return e.unmet(format!(
            "{boot} came through the firmware after kexec attempt {} into {} never confirmed{}; \
             that kernel is quarantined (`kexecctl clear-quarantine` lets it kexec again)",
            f.id,
            f.kernel.display(),
            match f.watchdog_reset {
                Some(true) => " (the watchdog reset the machine)",
                _ => "",
            }
        ));
    }
    match last.via {
        "kexec" => {}
        "firmware" => {
            return e.unmet(format!(
                "{boot} came through the firmware, not kexec (kexec-load's message in the \
                 previous boot's log says why, e.g. journalctl -b -1 -u kexec-load.service)"
            ));
        }
        _ => {
            return e.unmet(format!(
                "{boot}: whether it came through kexec cannot be told (no kexec attempt on its \
                 command line, and the kernel does not name its loader)"
            ));
        }
    }
    if let Some(want) = release {
        if last.release.as_deref() != Some(want) {
            return e.unmet(format!("{boot} came through kexec, but not into {want}"));
        }
    }
    match (&last.attempt_id, last.confirmed) {
        (Some(id), Some(false)) => {
            e.pending = true;
            e.unmet(format!(
                "{boot} came through kexec attempt {id}, not confirmed yet \
                 (kexecctl-confirm.service confirms it after multi-user.target)"
            ))
        }
        (Some(id), None) => e.unmet(format!(
            "{boot} came through kexec attempt {id}, of which there is no record"
        )),
        (Some(id), Some(true)) => {
            e.met(format!("{boot} came through kexec attempt {id}, confirmed"))
        }
        (None, _) => e.met(format!(
            "{boot} came through kexec (unguarded: no attempt to confirm)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::plan::guard::FailedAttempt;

    fn next_kexec(release: Option<&str>) -> NextReboot {
        NextReboot {
            via: "kexec",
            kernel: Some(PathBuf::from("/boot/vmlinuz-6.12.57+deb13-cloud-amd64")),
            release: release.map(str::to_string),
            cmdline: Some("root=/dev/vda1".into()),
            entry: None,
            reason: "kexec-load loads it at shutdown".into(),
        }
    }

    fn last(via: &'static str, attempt: Option<&str>, confirmed: Option<bool>) -> LastBoot {
        LastBoot {
            boot_id: Some("b2".into()),
            release: Some("6.12.57+deb13-cloud-amd64".into()),
            via,
            attempt_id: attempt.map(str::to_string),
            confirmed,
            failed_attempt: None,
        }
    }

    const REL: &str = "6.12.57+deb13-cloud-amd64";

    #[test]
    fn test_next() {
        let e = next(&next_kexec(Some(REL)), Some(REL));
        assert!(e.met && e.error().is_none(), "{e:?}");
        assert!(next(&next_kexec(Some(REL)), None).met);
        let e = next(&next_kexec(Some(REL)), Some("6.12.48+deb13-cloud-amd64"));
        assert_eq!(
            e.reason,
            "the next reboot kexecs into /boot/vmlinuz-6.12.57+deb13-cloud-amd64 \
             (6.12.57+deb13-cloud-amd64), not 6.12.48+deb13-cloud-amd64"
        );
        assert_eq!(e.error().unwrap().code, ExitCode::Failure);
        assert!(!next(&next_kexec(None), Some(REL)).met, "unknown release");
        let mut cold = next_kexec(None);
        cold.via = "firmware";
        cold.reason = "coldreboot asked for it".into();
        let e = next(&cold, None);
        assert_eq!(
            e.reason,
            "the next reboot goes through the firmware, not kexec: coldreboot asked for it"
        );
    }

    #[test]
    fn test_booted() {
        assert!(booted(&last("kexec", None, None), Some(REL)).met);
        assert!(booted(&last("kexec", Some("a1"), Some(true)), Some(REL)).met);
        let e = booted(&last("kexec", Some("a1"), Some(false)), Some(REL));
        assert!(!e.met && e.pending);
        assert_eq!(e.error().unwrap().code, ExitCode::Unimplemented);
        let e = booted(&last("firmware", None, None), Some(REL));
        assert!(!e.pending);
        assert!(
            e.reason.starts_with(
                "this boot (6.12.57+deb13-cloud-amd64, boot id b2) came through the firmware, \
                 not kexec"
            ),
            "{}",
            e.reason
        );
        assert_eq!(e.error().unwrap().code, ExitCode::Failure);
        assert!(!booted(&last("unknown", None, None), None).met);
        let e = booted(&last("kexec", None, None), Some("6.1.0-28-amd64"));
        assert!(
            e.reason
                .ends_with("came through kexec, but not into 6.1.0-28-amd64")
        );
        let mut failed = last("firmware", None, None);
        failed.failed_attempt = Some(FailedAttempt {
            id: "a1".into(),
            kernel: "/boot/vmlinuz-x".into(),
            cmdline: String::new(),
            loaded_at: 0,
            watchdog_reset: Some(true),
        });
        let e = booted(&failed, None);
        assert!(
            e.reason.contains(
                "after kexec attempt a1 into /boot/vmlinuz-x never confirmed (the watchdog reset \
                 the machine)"
            ),
            "{}",
            e.reason
        );
    }
}
