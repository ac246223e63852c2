//! The integration tests: one binary (ripgrep's layout), each module one
//! command or one concern, all running the real kexecctl binary. Shared
//! helpers and the fixture `Host` are in `util`; no module imports another.

// The entry GRUB or BLS would boot, through `kexecctl load --dry-run --json`.
mod boot_entries;
// coldreboot: unload, marker, reboot; its options and reboot's.
mod coldreboot;
// Debian's own /etc/init.d/kexec-load, run chrooted, against kexec-load.
mod debian_oracle;
// argv[0] dispatch: links, full paths, `kexecctl <personality>`, --list.
mod dispatch;
// What an admin reads: man pages, completions, the README's exit codes.
mod docs;
// Faults and races: full disks, unreadable files, concurrency, SIGTERM.
mod faults;
// The fixture trees of tests/fixtures and their expected outputs, as files.
mod fixtures;
// fastreboot: running/default kernel, systemd and sysvinit, the dialogue.
mod fastreboot;
// Hostile input and I/O faults: escapes from --root, NUL and invalid UTF-8
// in every file, FIFOs, thousands of initrds, EIO, read-only /boot.
mod hostile;
// GRUB itself (grub-emu 2.12) as the oracle of the entry GRUB would boot.
mod grub_oracle;
// Every command's --json output follows docs/json-schema.json.
mod json_schema;
// Rolling kexec reboots: status --expect-next / --expect-booted, releases.
mod fleet;
// kdump-setup against kdump-utils' own prepare_cmdline (recorded answers).
mod kdump_oracle;
// kdump-setup on Red Hat and Debian kdump-tools trees.
mod kdump_setup;
// kdump-setup against Debian's own kdump-config, run chrooted.
mod kdump_tools_oracle;
// kexec-load start|stop|status: actions, gates, markers.
mod kexec_load;
// kexecctl load|unload|exec|status|config and /etc/default/kexec.
mod kexecctl;
// Versions, links, man pages and service files agree with the code.
mod packaging;
// Property tests of the shell-fragment reader.
mod reader_properties;
// The shell-fragment reader against dash, on generated files and the corpus.
mod shell_vs_dash;
// Shared helpers: running the binary, the fixture Host.
mod util;
// The kexec guard: readiness, guarded loads, arm, confirm, quarantine.
mod watchdog;
