//! `kexecctl generate-docs --out DIR` (hidden): a man page and shell
//! completions for every personality, generated from the clap definitions
//! (so options and defaults are never written twice) plus the sections an
//! admin looks for — FILES, ENVIRONMENT, EXIT STATUS (the one table of
//! [`ExitCode`]), EXAMPLES, SEE ALSO (only pages this package installs, and
//! reboot(8)). The Makefile runs it at build time.

use std::fs;
use std::io::Write;
use std::path::Path;

use clap::{Command, CommandFactory};
use clap_complete::Shell;

use crate::cli::{coldreboot, fastreboot, kdump_setup, kexec_load, kexecctl};
use crate::error::{Error, ExitCode, Result};

/// The clap definition of each installed command, by name.
pub fn commands() -> Vec<Command> {
    vec![
        kexecctl::Cli::command(),
        kexec_load::Cli::command(),
        coldreboot::Cli::command(),
        kdump_setup::Cli::command(),
        fastreboot::Cli::command(),
    ]
}

/// The hand-written sections of one page.
struct Extra {
    /// The actions of an init-script personality, hidden ones included.
    actions: &'static [(&'static str, &'static str)],
    files: &'static [(&'static str, &'static str)],
    environment: &'static [(&'static str, &'static str)],
    examples: &'static [(&'static str, &'static str)],
    see_also: &'static [&'static str],
}

const CONFIG_ENV: (&str, &str) = (
    "RUST_LOG",
    "Overrides the message level of -v and -q (error, warn, info, debug, trace). The \
     configuration files are read with an empty environment, as the init scripts read them: \
     no variable of the caller's environment changes a value.",
);

fn extra(name: &str) -> Extra {
    match name {
        "kexec-load" => Extra {
            actions: &[
                (
                    "start",
                    "Nothing (Debian's script does nothing either); exit 0.",
                ),
                (
                    "stop",
                    "At shutdown: load the kernel for the coming reboot, when the system is rebooting (a reboot.target job is queued under systemd; runlevel 6 under sysvinit), LOAD_KEXEC is \"true\", no kexec kernel is loaded and no cold reboot was asked for. Prints Loading new kernel image into memory...done. (or failed.).",
                ),
                (
                    "status",
                    "kexec kernel loaded: KERNEL (exit 0), or no kexec kernel loaded (exit 3).",
                ),
                (
                    "restart, reload, force-reload",
                    "Error: argument '...' not supported, on stderr; exit 0, as Debian's script.",
                ),
                (
                    "anything else",
                    "Usage: kexec-load start|stop|status on stderr; exit 3.",
                ),
            ],
            files: &[
                (
                    "/etc/default/kexec",
                    "LOAD_KEXEC, KERNEL_IMAGE, INITRD, APPEND, USE_GRUB_CONFIG (shell syntax, read without being run); kexecctl's own KEXECCTL_WATCHDOG_TIMEOUT, KEXECCTL_WATCHDOG_REQUIRED and KEXECCTL_WATCHDOG_DEVICE (the kexec guard, see kexecctl(8)), which Debian's script ignores.",
                ),
                (
                    "/var/lib/kexecctl/attempt.json",
                    "With the kexec guard on: the attempt stop records with the load; its id goes on the new kernel's command line as kexecctl.attempt=ID.",
                ),
                (
                    "/etc/default/kexec.d/*",
                    "Read after /etc/default/kexec, in run-parts order (names of letters, digits, _ and - only).",
                ),
                (
                    "/boot/grub/grub.cfg, /boot/grub/grubenv",
                    "With USE_GRUB_CONFIG=true: the entry GRUB would boot; next_entry and saved_entry are updated as GRUB would update them.",
                ),
                (
                    "/run/kexecctl/cold-reboot, /no-kexec-reboot",
                    "One-shot markers of coldreboot(8): the next reboot goes through the firmware; consumed by stop.",
                ),
                (
                    "/run/kexecctl/loaded.json",
                    "What kexecctl loaded, for status.",
                ),
                (
                    "/proc/cmdline",
                    "Reused as the command line when APPEND is empty.",
                ),
            ],
            environment: &[CONFIG_ENV],
            examples: &[
                (
                    "kexec-load --dry-run stop",
                    "Show what the next reboot would load, after every check a real load makes.",
                ),
                (
                    "kexec-load status",
                    "Exit 0 when a kexec kernel is loaded, 3 when not.",
                ),
            ],
            see_also: &[
                "kexecctl(8)",
                "coldreboot(8)",
                "fastreboot(8)",
                "kdump-setup(8)",
            ],
        },
        "coldreboot" => Extra {
            actions: &[],
            files: &[(
                "/run/kexecctl/cold-reboot",
                "The one-shot marker that keeps the next reboot from kexecing; on tmpfs, so it cannot outlive the boot.",
            )],
            environment: &[
                (
                    "SYSTEMCTL_SKIP_AUTO_KEXEC",
                    "Set to 1 for reboot(8), so that systemd 255 and later do not kexec a loaded kernel on their own.",
                ),
                ("RUST_LOG", "Overrides the message level of -v and -q."),
            ],
            examples: &[
                ("coldreboot", "Reboot through the firmware."),
                (
                    "coldreboot --dry-run -f",
                    "Show what coldreboot -f would do.",
                ),
                (
                    "coldreboot -- --some-reboot-option",
                    "Pass an option reboot(8) knows and coldreboot does not.",
                ),
            ],
            see_also: &["reboot(8)", "kexecctl(8)", "kexec-load(8)"],
        },
        "kdump-setup" => Extra {
            actions: &[
                (
                    "start",
                    "Arm kdump: check crash support and the reservation, find the capture kernel, build the kdump initrd with mkdumprd when it is missing or stale (Red Hat), compute the capture command line, load the crash kernel. kdump: Starting kdump: [OK] on stderr. A loaded crash kernel: kdump: Kdump already running: [WARNING], exit 0.",
                ),
                ("stop", "Unload the crash kernel."),
                (
                    "status",
                    "kdump: Kdump is operational (exit 0) or Kdump is not operational (exit 3).",
                ),
                ("restart", "stop, then start."),
                (
                    "reload",
                    "Unload and load again without rebuilding the initrd.",
                ),
                (
                    "condrestart, try-restart",
                    "restart when a crash kernel is loaded, else nothing.",
                ),
                (
                    "rebuild",
                    "Build the Red Hat kdump initrd with mkdumprd; do not load.",
                ),
                ("showmem", "kdump: Reserved N MiB memory for crash kernel."),
                (
                    "anything else",
                    "The usage line on stderr; exit 1, as kdumpctl.",
                ),
            ],
            files: &[
                (
                    "/etc/sysconfig/kdump",
                    "Red Hat's kdump settings (KDUMP_COMMANDLINE, _APPEND, _REMOVE, KEXEC_ARGS, KDUMP_KERNELVER, KDUMP_BOOTDIR, KDUMP_IMG), read as kdumpctl reads them.",
                ),
                (
                    "/etc/default/kdump-tools",
                    "Debian's kdump-tools settings (USE_KDUMP, KDUMP_KERNEL, KDUMP_INITRD, KDUMP_CMDLINE, KDUMP_CMDLINE_APPEND, KDUMP_KEXEC_ARGS).",
                ),
                (
                    "/etc/kdump.conf",
                    "force_rebuild and force_no_rebuild; the rest is for mkdumprd.",
                ),
                (
                    "/boot/initramfs-VERSIONkdump.img, /var/lib/kdump",
                    "The kdump initrd, beside the kernel or under /var/lib/kdump when /boot is read-only.",
                ),
                (
                    "/proc/cmdline, /sys/kernel/kexec_crash_size",
                    "The running command line (the default base) and the crash reservation.",
                ),
            ],
            environment: &[CONFIG_ENV],
            examples: &[
                (
                    "kdump-setup --dry-run start",
                    "Show the capture kernel, initrd and command line kdump would arm.",
                ),
                (
                    "kdump-setup status",
                    "Exit 0 when a crash kernel is loaded, 3 when not.",
                ),
            ],
            see_also: &["kexecctl(8)", "kexec-load(8)"],
        },
        "fastreboot" => Extra {
            actions: &[],
            files: &[
                (
                    "/boot/vmlinuz-VERSION, /boot/initrd.img-VERSION, /boot/initramfs-VERSION.img, /boot/MACHINE-ID/VERSION/linux",
                    "The running kernel and its initrd, in Debian, Red Hat and BLS layouts.",
                ),
                (
                    "/run/kexecctl/kexec-requested",
                    "On sysvinit: tells the exec step to kexec even when LOAD_KEXEC is not true.",
                ),
            ],
            environment: &[("RUST_LOG", "Overrides the message level of -v and -q.")],
            examples: &[
                (
                    "fastreboot -y",
                    "Reboot into the running kernel now, without asking.",
                ),
                (
                    "fastreboot --default --dry-run",
                    "Show what a fast reboot into GRUB's default entry would load.",
                ),
            ],
            see_also: &["kexecctl(8)", "kexec-load(8)", "coldreboot(8)"],
        },
        _ => Extra {
            actions: &[],
            files: &[
                (
                    "/etc/default/kexec, /etc/default/kexec.d/*",
                    "The kexec reboot settings (see kexec-load(8)).",
                ),
                (
                    "/etc/sysconfig/kdump, /etc/default/kdump-tools, /etc/kdump.conf",
                    "The kdump settings (see kdump-setup(8)).",
                ),
                (
                    "/boot/grub/grub.cfg, /boot/grub/grubenv, /boot/loader/entries/*.conf",
                    "The boot loader's entries.",
                ),
                (
                    "/run/kexecctl/",
                    "Markers (cold-reboot, kexec-requested) and the record of the load (loaded.json).",
                ),
                (
                    "/etc/default/kexec: KEXECCTL_WATCHDOG_TIMEOUT, KEXECCTL_WATCHDOG_REQUIRED, KEXECCTL_WATCHDOG_DEVICE",
                    "The kexec guard (kexecctl's extension; Debian's scripts ignore these names). TIMEOUT: seconds the hardware watchdog gives the new kernel to come up and be confirmed before it resets the machine through the firmware (empty or 0: off). REQUIRED: yes (default) refuses a kexec the guard cannot protect, so the reboot goes through the firmware; no warns and kexecs. DEVICE: the watchdog (default /dev/watchdog0). kexecctl status shows whether the guard is ready and, if not, what to change (e.g. watchdog.stop_on_reboot=0 on the kernel command line).",
                ),
                (
                    "/var/lib/kexecctl/attempt.json, /var/lib/kexecctl/quarantine.json",
                    "The last guarded kexec attempt (pending, confirmed, failed, cleared) and the quarantined kernels: after a kexec that never confirmed, the next reboots go through the firmware until the kernel changes or kexecctl clear-quarantine.",
                ),
                (
                    "/etc/systemd/system.conf, system.conf.d/*.conf",
                    "systemd's RuntimeWatchdogSec=, RebootWatchdogSec=, KExecWatchdogSec= and WatchdogDevice=, read for the guard's pre-flight and hand-over.",
                ),
                (
                    "kexecctl-confirm.service, /etc/init.d/kexecctl-confirm",
                    "Run kexecctl confirm once the system is up (after multi-user.target).",
                ),
            ],
            environment: &[CONFIG_ENV],
            examples: &[
                (
                    "kexecctl status",
                    "What is loaded, and what the next reboot will do and why.",
                ),
                ("kexecctl load --dry-run --json", "The load plan as JSON."),
                (
                    "kexecctl status --json",
                    "guard (is a kexec watchdog-guarded, and if not, the fix), last_boot (kexec or firmware, confirmed or not, a failed attempt) and quarantine, for an orchestrator.",
                ),
                (
                    "kexecctl clear-quarantine",
                    "After a failed kexec has been dealt with: let its kernel kexec again.",
                ),
                (
                    "kexecctl config",
                    "The variables of the legacy files, with the file and line of each.",
                ),
                (
                    "kexecctl --root /mnt load --dry-run",
                    "What a mounted system would load.",
                ),
            ],
            see_also: &[
                "kexec-load(8)",
                "coldreboot(8)",
                "kdump-setup(8)",
                "fastreboot(8)",
            ],
        },
    }
}

/// Escapes text for roff: backslashes, and a leading `.` or `'`.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn render_extra(name: &str, w: &mut dyn Write) -> std::io::Result<()> {
    let extra = extra(name);
    if !extra.actions.is_empty() {
        writeln!(w, ".SH ACTIONS")?;
        for (action, what) in extra.actions {
            writeln!(w, ".TP\n\\fB{}\\fR\n{}", roff(action), roff(what))?;
        }
    }
    writeln!(w, ".SH FILES")?;
    for (file, what) in extra.files {
        writeln!(w, ".TP\n\\fB{}\\fR\n{}", roff(file), roff(what))?;
    }
    writeln!(w, ".SH ENVIRONMENT")?;
    for (var, what) in extra.environment {
        writeln!(w, ".TP\n\\fB{}\\fR\n{}", roff(var), roff(what))?;
    }
    writeln!(w, ".SH \"EXIT STATUS\"")?;
    writeln!(w, ".TP\n\\fB0\\fR\nsuccess, or nothing to do")?;
    for code in ExitCode::ALL {
        writeln!(
            w,
            ".TP\n\\fB{}\\fR\n{}",
            code.code(),
            roff(code.description())
        )?;
    }
    writeln!(w, ".SH EXAMPLES")?;
    for (command, what) in extra.examples {
        writeln!(w, ".TP\n\\fB{}\\fR\n{}", roff(command), roff(what))?;
    }
    writeln!(w, ".SH \"SEE ALSO\"")?;
    let refs: Vec<String> = extra
        .see_also
        .iter()
        .map(|r| {
            let (page, section) = r.split_once('(').unwrap_or((r, "8)"));
            format!("\\fB{}\\fR({}", roff(page), section)
        })
        .collect();
    writeln!(w, "{}", refs.join(",\n"))?;
    Ok(())
}

/// One man page: clap's title, NAME, SYNOPSIS, DESCRIPTION, OPTIONS (and
/// COMMANDS), then the hand-written sections and VERSION.
pub fn man_page(cmd: &Command) -> std::io::Result<Vec<u8>> {
    let name = cmd.get_name().to_string();
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration");
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut buf)?;
    }
    render_extra(&name, &mut buf)?;
    man.render_version_section(&mut buf)?;
    Ok(buf)
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, &e)
}

pub fn generate(out: &Path) -> Result<()> {
    let man = out.join("man8");
    fs::create_dir_all(&man).map_err(|e| io(&man, e))?;
    for cmd in commands() {
        let name = cmd.get_name().to_string();
        let path = man.join(format!("{name}.8"));
        let page = man_page(&cmd).map_err(|e| io(&path, e))?;
        fs::write(&path, page).map_err(|e| io(&path, e))?;
        for (shell, dir) in [
            (Shell::Bash, "bash-completion"),
            (Shell::Zsh, "zsh"),
            (Shell::Fish, "fish"),
        ] {
            let dir = out.join(dir);
            fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let mut cmd = cmd.clone();
            clap_complete::generate_to(shell, &mut cmd, &name, &dir).map_err(|e| io(&dir, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::personality::Personality;

    #[test]
    fn test_every_clap_definition_is_consistent() {
        for cmd in commands() {
            cmd.debug_assert();
        }
    }

    #[test]
    fn test_man_pages_and_completions_for_every_personality() {
        let tmp = tempfile::tempdir().unwrap();
        generate(tmp.path()).unwrap();
        let names = Personality::PERSONALITIES
            .into_iter()
            .chain([Personality::Kexecctl])
            .map(Personality::name);
        for name in names {
            let page = fs::read_to_string(tmp.path().join(format!("man8/{name}.8"))).unwrap();
            for section in [
                "NAME",
                "SYNOPSIS",
                "DESCRIPTION",
                "OPTIONS",
                "FILES",
                "ENVIRONMENT",
                "\"EXIT STATUS\"",
                "EXAMPLES",
                "\"SEE ALSO\"",
            ] {
                assert!(
                    page.contains(&format!(".SH {section}")),
                    "{name}: no {section}"
                );
            }
            assert!(
                !page.contains("generate-docs"),
                "{name}: a hidden command is documented"
            );
            let bash = fs::read_to_string(tmp.path().join(format!("bash-completion/{name}.bash")))
                .unwrap();
            assert!(
                !bash.contains("generate-docs"),
                "{name}: completion offers a hidden command"
            );
            assert!(tmp.path().join(format!("zsh/_{name}")).is_file());
            assert!(tmp.path().join(format!("fish/{name}.fish")).is_file());
        }
        let bash = fs::read_to_string(tmp.path().join("bash-completion/kexec-load.bash")).unwrap();
        assert!(bash.contains("start") && bash.contains("stop") && bash.contains("status"));
    }
}
