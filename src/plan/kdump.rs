//! What `kdump-setup` does: arm kdump as Red Hat's kdumpctl does (capture
//! kernel search, kdump initrd name and place, rebuild decision, command
//! line) or as Debian's kdump-config does, from the configuration, the
//! facts and a table of the files involved — no file system access here.
//!
//! The file table is filled before planning from [`paths_to_look_at`],
//! which lists every path the planner may ask about.

use std::path::{Path, PathBuf};

use crate::config::{Config, Origin};
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::facts::files::FileTable;
use crate::facts::kdump::CaptureFacts;
use crate::facts::running::{KernelSearch, Uki};
use crate::kdump::{self, CaptureInputs, DebianBoot, Family, Rebuild, RebuildPolicy, Source};
use crate::plan::{Action, KdumpDetails, LoadPlan, OnError, Plan, Step};
use crate::system::Program;

pub const KDUMP_CONF: &str = "/etc/kdump.conf";
pub const SYSCONFIG_KDUMP: &str = "/etc/sysconfig/kdump";
pub const KDUMP_TOOLS: &str = "/etc/default/kdump-tools";
pub const MKDUMPRD: &[&str] = &["/usr/sbin/mkdumprd", "/sbin/mkdumprd"];
pub const PANIC_ON_OOPS: &str = "/proc/sys/kernel/panic_on_oops";

/// The configuration a kdump plan is made from.
pub struct KdumpConfig<'c, 'r> {
    pub family: Family,
    pub config: &'c Config<'r>,
    /// `force_rebuild` / `force_no_rebuild` of /etc/kdump.conf (Red Hat).
    pub policy: RebuildPolicy,
    /// The root is a tree, not the running system: programs of the tree run
    /// chrooted into this host directory.
    pub chroot: Option<PathBuf>,
}

impl KdumpConfig<'_, '_> {
    fn get(&self, name: &str) -> String {
        self.config.get(name).unwrap_or_default().to_string()
    }

    fn origin(&self, name: &str) -> String {
        match self.config.shell.var(name) {
            Some(var) => var.origin.to_string(),
            None => "unset".into(),
        }
    }

    /// Where a variable came from, for command-line errors.
    fn source(&self, name: &str) -> Source {
        let origin = self
            .config
            .shell
            .var(name)
            .map_or(Origin::Default, |v| v.origin.clone());
        Source::variable(name, origin)
    }
}

/// The Red Hat settings that decide where the capture kernel is.
struct RedHatSearch {
    wanted: String,
    search: KernelSearch,
}

fn redhat_search(cfg: &KdumpConfig, facts: &Facts, capture: &CaptureFacts) -> Result<RedHatSearch> {
    let wanted = match cfg.get("KDUMP_KERNELVER") {
        v if v.is_empty() => facts
            .release_for("to find the capture kernel (KDUMP_KERNELVER is empty)")?
            .to_string(),
        v => v,
    };
    let dirs = match cfg.get("KDUMP_BOOTDIR") {
        v if v.trim().is_empty() => kdump::DEFAULT_BOOTDIRS.to_string(),
        v => v,
    };
    let image = match cfg.get("KDUMP_IMG") {
        v if v.is_empty() => "vmlinuz".to_string(),
        v => v,
    };
    Ok(RedHatSearch {
        wanted,
        search: KernelSearch {
            dirs: dirs.split_whitespace().map(str::to_string).collect(),
            bls_names: vec![image.clone()],
            image,
            image_ext: cfg.get("KDUMP_IMG_EXT"),
            uki: Some(Uki {
                booted: capture.stub_image.clone(),
            }),
        },
    })
}

/// The kernel versions a Red Hat plan may pick (for their module aliases):
/// the wanted one, and a debug kernel's sibling first.
pub fn capture_versions(cfg: &KdumpConfig, facts: &Facts) -> Vec<String> {
    if cfg.family != Family::RedHat {
        return Vec::new();
    }
    match cfg.get("KDUMP_KERNELVER") {
        v if v.is_empty() => facts
            .release
            .as_ref()
            .map(|r| versions(r))
            .unwrap_or_default(),
        v => versions(&v),
    }
}

/// The versions to try, in order: a debug kernel's non-debug sibling first.
fn versions(wanted: &str) -> Vec<String> {
    match kdump::non_debug(wanted) {
        Some(plain) => vec![plain.to_string(), wanted.to_string()],
        None => vec![wanted.to_string()],
    }
}

/// Every path the planner may ask the file table about.
pub fn paths_to_look_at(cfg: &KdumpConfig, facts: &Facts, capture: &CaptureFacts) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = MKDUMPRD.iter().map(PathBuf::from).collect();
    match cfg.family {
        Family::RedHat => {
            let Ok(rh) = redhat_search(cfg, facts, capture) else {
                return paths;
            };
            paths.extend([KDUMP_CONF, SYSCONFIG_KDUMP, kdump::VAR_LIB_KDUMP].map(PathBuf::from));
            for version in versions(&rh.wanted) {
                let candidates = rh.search.candidates(
                    &version,
                    facts.boot_image().as_ref(),
                    facts.machine_id.as_deref(),
                );
                for kernel in candidates {
                    let dir = kernel.parent().unwrap_or(Path::new("/")).to_path_buf();
                    for name in [format!("initramfs-{version}.img"), "initrd".into()] {
                        let kdump_name = kdump::kdump_initrd_name(Some(&name), &version);
                        paths.push(dir.join(&name));
                        paths.push(dir.join(&kdump_name));
                        paths.push(Path::new(kdump::VAR_LIB_KDUMP).join(&kdump_name));
                    }
                    let fallback = kdump::kdump_initrd_name(None, &version);
                    paths.push(dir.join(&fallback));
                    paths.push(Path::new(kdump::VAR_LIB_KDUMP).join(&fallback));
                    paths.push(dir);
                    paths.push(kernel);
                }
            }
        }
        Family::Debian => {
            for name in ["KDUMP_KERNEL", "KDUMP_INITRD"] {
                let value = cfg.get(name);
                if !value.is_empty() {
                    paths.push(value.into());
                }
            }
            if let Ok(release) = &facts.release {
                paths.push(format!("/boot/vmlinuz-{release}").into());
                paths.push(format!("/boot/vmlinux-{release}").into());
                paths.push(format!("/boot/initrd.img-{release}").into());
                paths.push(format!("/var/lib/kdump/initrd.img-{release}").into());
            }
        }
    }
    paths
}

/// The checks kdumpctl makes before anything else.
fn check_feasible(facts: &Facts) -> Result<()> {
    if !facts.kexec.crash_supported {
        return Err(Error::not_installed(
            "Kdump is not supported on this kernel",
        ));
    }
    if facts.kexec.crash_size.unwrap_or(0) == 0 {
        return Err(kdump::no_reservation());
    }
    Ok(())
}

/// `kdump-setup start` (and the start half of restart, reload and
/// condrestart). `reload` loads again without rebuilding the initrd and
/// even when a crash kernel is loaded.
pub fn start(
    cfg: &KdumpConfig,
    facts: &Facts,
    capture: &CaptureFacts,
    files: &FileTable,
    reload: bool,
) -> Result<Plan> {
    check_feasible(facts)?;
    if facts.kexec.crash_loaded && !reload {
        return Ok(Plan::skip("a crash kernel is already loaded"));
    }
    let mut plan = match cfg.family {
        Family::RedHat => redhat(cfg, facts, capture, files, reload)?,
        Family::Debian => debian(cfg, facts, capture, files)?,
    };
    if reload && facts.kexec.crash_loaded {
        plan.steps.insert(
            0,
            Step::Unload {
                crash: true,
                on_error: OnError::Stop,
            },
        );
    }
    Ok(plan)
}

fn redhat(
    cfg: &KdumpConfig,
    facts: &Facts,
    capture: &CaptureFacts,
    files: &FileTable,
    reload: bool,
) -> Result<Plan> {
    let warnings = kdump::redhat_warnings(cfg.config);
    let rh = redhat_search(cfg, facts, capture)?;
    let found = versions(&rh.wanted).into_iter().find_map(|version| {
        let kernel = rh
            .search
            .candidates(
                &version,
                facts.boot_image().as_ref(),
                facts.machine_id.as_deref(),
            )
            .into_iter()
            .find(|p| files.is_file(p))?;
        Some((version, kernel))
    });
    let Some((version, kernel)) = found else {
        return Err(Error::not_installed(format!(
            "Failed to detect kdump kernel location: no {}-{}{} in {} (KDUMP_KERNELVER, \
             KDUMP_BOOTDIR, KDUMP_IMG in {SYSCONFIG_KDUMP})",
            rh.search.image,
            rh.wanted,
            rh.search.image_ext,
            rh.search.dirs.join(" ")
        )));
    };
    let kernel_dir = kernel.parent().unwrap_or(Path::new("/")).to_path_buf();
    let default_initrd = [format!("initramfs-{version}.img"), "initrd".to_string()]
        .into_iter()
        .find(|name| files.is_file(&kernel_dir.join(name)));
    let initrd = kdump::kdump_initrd_path(
        &kernel_dir,
        default_initrd.as_deref(),
        files.writable(&kernel_dir),
        &version,
    );
    let rebuild = rebuild_needed(
        cfg.policy,
        files,
        &initrd,
        &[&kernel, Path::new(KDUMP_CONF), Path::new(SYSCONFIG_KDUMP)],
    );
    let kdump_commandline = cfg.get("KDUMP_COMMANDLINE");
    let running = if kdump_commandline.is_empty() {
        facts.cmdline_for("because KDUMP_COMMANDLINE is empty")?
    } else {
        ""
    };
    let (base, from_proc) = kdump::capture_base(&kdump_commandline, running);
    let (remove, append) = (
        cfg.get("KDUMP_COMMANDLINE_REMOVE"),
        cfg.get("KDUMP_COMMANDLINE_APPEND"),
    );
    let cmdline = kdump::capture_cmdline(&CaptureInputs {
        base,
        base_source: if from_proc {
            Source::ProcCmdline
        } else {
            cfg.source("KDUMP_COMMANDLINE")
        },
        remove: &remove,
        remove_source: cfg.source("KDUMP_COMMANDLINE_REMOVE"),
        append: &append,
        append_source: cfg.source("KDUMP_COMMANDLINE_APPEND"),
        boot_cpu_apicid: facts.boot_cpu_apicid.as_deref(),
        watchdog_drivers: &capture.watchdog_drivers(&version),
        aws_graviton: capture.aws_graviton,
    })?;
    let args = kdump::parse_kexec_args(&cfg.get("KEXEC_ARGS"));
    let mut steps = Vec::new();
    if rebuild.needed && !reload {
        let Some(mkdumprd) = MKDUMPRD
            .iter()
            .map(PathBuf::from)
            .find(|p| files.is_file(p))
        else {
            return Err(Error::not_installed(format!(
                "the kdump initrd {} must be built ({}), but mkdumprd is not installed (it \
                 comes with kexec-tools or kdump-utils)",
                initrd.display(),
                rebuild.reason
            )));
        };
        steps.push(build_step(cfg, mkdumprd, &initrd, &version));
    }
    steps.push(Step::Load);
    let load = crash_load(cfg, kernel, vec![initrd], cmdline, &args, "KEXEC_ARGS");
    Ok(Plan {
        load: Some(load),
        steps,
        kdump: Some(KdumpDetails {
            family: Family::RedHat,
            rebuild: Some(rebuild),
            kexec_args: args.all,
        }),
        warnings,
        ..Plan::new(Action::Load)
    })
}

/// The crash kernel's load, with the kexec options of `args_var`.
fn crash_load(
    cfg: &KdumpConfig,
    kernel: PathBuf,
    initrds: Vec<PathBuf>,
    cmdline: String,
    args: &kdump::KexecArgs,
    args_var: &str,
) -> LoadPlan {
    let mut load = LoadPlan::new(kernel, initrds, cmdline);
    load.crash = true;
    load.debug = args.debug;
    load.kexec_tools_args = args.all.clone();
    if !args.foreign.is_empty() {
        load.kexec_tools_reason = Some(format!(
            "kexec option(s) {} ({}) need kexec-tools",
            args.foreign.join(" "),
            cfg.origin(args_var)
        ));
    }
    load
}

fn build_step(cfg: &KdumpConfig, mkdumprd: PathBuf, initrd: &Path, version: &str) -> Step {
    let mut program = Program::new(mkdumprd, &[]);
    program.args = cfg
        .get("MKDUMPRD_ARGS")
        .split_whitespace()
        .map(Into::into)
        .chain(["-f".into(), initrd.as_os_str().to_owned(), version.into()])
        .collect();
    program.chroot = cfg.chroot.clone();
    Step::BuildInitrd {
        program,
        initrd: initrd.to_path_buf(),
    }
}

/// kdumpctl's decision: never with force_no_rebuild; always with
/// force_rebuild; when the initrd is missing; when the kernel, kdump.conf
/// or sysconfig is newer than it (whole seconds, strictly newer).
pub fn rebuild_needed(
    policy: RebuildPolicy,
    files: &FileTable,
    initrd: &Path,
    inputs: &[&Path],
) -> Rebuild {
    let yes = |reason: String| Rebuild {
        needed: true,
        reason,
    };
    if policy.never {
        return Rebuild {
            needed: false,
            reason: format!("force_no_rebuild is set in {KDUMP_CONF}"),
        };
    }
    if policy.force {
        return yes(format!("force_rebuild is set in {KDUMP_CONF}"));
    }
    let Some(built) = files.mtime(initrd) else {
        return yes("no kdump initial ramdisk found".into());
    };
    for input in inputs {
        if files.mtime(input).is_some_and(|t| t > built) {
            return yes(format!(
                "{} is newer than the kdump initrd",
                input.display()
            ));
        }
    }
    Rebuild {
        needed: false,
        reason: "the kdump initrd is up to date".into(),
    }
}

fn debian(
    cfg: &KdumpConfig,
    facts: &Facts,
    capture: &CaptureFacts,
    files: &FileTable,
) -> Result<Plan> {
    let use_kdump = cfg.get("USE_KDUMP");
    let enabled = use_kdump.trim().parse::<i64>().is_ok_and(|n| n != 0);
    if !enabled {
        return Ok(Plan::skip(format!(
            "USE_KDUMP is {use_kdump:?} ({}), not a non-zero number",
            cfg.origin("USE_KDUMP")
        )));
    }
    let release = facts.release_for("to find the capture kernel")?;
    let (kernel, initrd) = kdump::debian_kernel_initrd(
        &DebianBoot {
            kdump_kernel: &cfg.get("KDUMP_KERNEL"),
            kdump_initrd: &cfg.get("KDUMP_INITRD"),
            release,
            relocatable: capture.relocatable,
        },
        |p| files.exists(Path::new(p)),
    )?;
    let (base, base_source) = match cfg.get("KDUMP_CMDLINE") {
        c if c.is_empty() => (
            kdump::debian_default_base(facts.cmdline_for("because KDUMP_CMDLINE is empty")?),
            Source::ProcCmdline,
        ),
        c => (c, cfg.source("KDUMP_CMDLINE")),
    };
    let cmdline = kdump::debian_cmdline(
        &base,
        &base_source,
        &cfg.get("KDUMP_CMDLINE_APPEND"),
        &cfg.source("KDUMP_CMDLINE_APPEND"),
    )?;
    let args = kdump::parse_kexec_args(&cfg.get("KDUMP_KEXEC_ARGS"));
    let mut load = LoadPlan::new(
        kernel,
        initrd.into_iter().map(PathBuf::from).collect(),
        cmdline,
    );
    load.crash = true;
    load.debug = args.debug;
    load.kexec_tools_args = args.all.clone();
    if !args.foreign.is_empty() {
        load.kexec_tools_reason = Some(format!(
            "kexec option(s) {} ({}) need kexec-tools",
            args.foreign.join(" "),
            cfg.origin("KDUMP_KEXEC_ARGS")
        ));
    }
    Ok(Plan {
        load: Some(load),
        steps: vec![
            Step::Load,
            // kdump-config turns oopses into panics so that they are dumped.
            Step::Sysctl {
                path: PANIC_ON_OOPS.into(),
                value: "1".into(),
            },
        ],
        kdump: Some(KdumpDetails {
            family: Family::Debian,
            rebuild: None,
            kexec_args: args.all,
        }),
        ..Plan::new(Action::Load)
    })
}

/// `kdump-setup stop`.
pub fn stop(facts: &Facts) -> Plan {
    if !facts.kexec.crash_loaded {
        return Plan::skip("no crash kernel is loaded");
    }
    Plan::new(Action::Unload).with_steps(vec![Step::Unload {
        crash: true,
        on_error: OnError::Stop,
    }])
}

/// `kdump-setup rebuild`: the Red Hat kdump initrd, without loading.
pub fn rebuild(
    cfg: &KdumpConfig,
    facts: &Facts,
    capture: &CaptureFacts,
    files: &FileTable,
) -> Result<Plan> {
    if cfg.family != Family::RedHat {
        return Err(Error::usage(
            "rebuild builds Red Hat's kdump initrd; on Debian the kernel hooks of kdump-tools do",
        ));
    }
    let forced = KdumpConfig {
        policy: RebuildPolicy {
            force: true,
            never: false,
        },
        family: cfg.family.clone(),
        config: cfg.config,
        chroot: cfg.chroot.clone(),
    };
    let mut plan = redhat(&forced, facts, capture, files, false)?;
    plan.steps.retain(|s| matches!(s, Step::BuildInitrd { .. }));
    plan.action = Action::Rebuild;
    plan.reason = Some("kdump-setup rebuild".into());
    if let Some(details) = &mut plan.kdump {
        details.rebuild = Some(Rebuild {
            needed: true,
            reason: "asked for (kdump-setup rebuild)".into(),
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::kdump::CaptureFacts;
    use crate::facts::{InitSystem, KexecState, Markers};
    use crate::root::Root;

    fn facts(cmdline: &str) -> Facts {
        Facts {
            arch: "x86_64",
            cmdline: Ok(cmdline.into()),
            release: Ok("5.14.0-362.8.1.el9_3.x86_64".into()),
            machine_id: Some("0f3c".into()),
            boot_id: None,
            boot_cpu_apicid: Some("0".into()),
            kexec: KexecState {
                crash_supported: true,
                crash_size: Some(256 << 20),
                ..Default::default()
            },
            init: InitSystem::Systemd { version: Some(252) },
            markers: Markers::default(),
            record: None,
            live: true,
            watchdog: Default::default(),
            attempts: Default::default(),
            loader_type: None,
        }
    }

    fn config<'r>(root: &'r Root, text: &str) -> Config<'r> {
        let mut shell = crate::config::Shell::new(Vec::new(), || Ok("x".to_string()));
        shell
            .source(Path::new(SYSCONFIG_KDUMP), text.as_bytes())
            .unwrap();
        let _ = root;
        Config {
            files: vec![SYSCONFIG_KDUMP.into()],
            shell,
        }
    }

    const V: &str = "5.14.0-362.8.1.el9_3.x86_64";

    fn table() -> FileTable {
        FileTable::default()
            .with_dir("/boot", true)
            .with_file(&format!("/boot/vmlinuz-{V}"), 100)
            .with_file(&format!("/boot/initramfs-{V}.img"), 100)
            .with_file("/usr/sbin/mkdumprd", 1)
    }

    #[test]
    fn test_redhat_plan_from_literals() {
        let root = Root::default();
        let cfg_text =
            "KDUMP_COMMANDLINE_REMOVE=\"quiet\"\nKDUMP_COMMANDLINE_APPEND=\"irqpoll nr_cpus=1\"\n";
        let config = config(&root, cfg_text);
        let cfg = KdumpConfig {
            family: Family::RedHat,
            config: &config,
            policy: RebuildPolicy::default(),
            chroot: None,
        };
        let f = facts("BOOT_IMAGE=(hd0,gpt2)/vmlinuz-X root=/dev/vda2 ro crashkernel=256M quiet");
        let plan = start(&cfg, &f, &CaptureFacts::default(), &table(), false).unwrap();
        let load = plan.load.as_ref().unwrap();
        assert_eq!(load.kernel, PathBuf::from(format!("/boot/vmlinuz-{V}")));
        assert_eq!(
            load.initrds,
            [PathBuf::from(format!("/boot/initramfs-{V}kdump.img"))]
        );
        assert_eq!(
            load.cmdline,
            "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-X ro irqpoll nr_cpus=1 disable_cpu_apicid=0 rd.systemd.gpt_auto=no"
        );
        assert!(load.crash);
        // No kdump initrd yet: mkdumprd builds it first.
        assert!(matches!(&plan.steps[0], Step::BuildInitrd { program, .. }
            if program.display() == format!("/usr/sbin/mkdumprd -f /boot/initramfs-{V}kdump.img {V}")));
        assert_eq!(plan.steps[1], Step::Load);
        // Up to date: no rebuild.
        let built = table().with_file(&format!("/boot/initramfs-{V}kdump.img"), 200);
        let plan = start(&cfg, &f, &CaptureFacts::default(), &built, false).unwrap();
        assert_eq!(plan.steps, [Step::Load]);
        // Read-only /boot: the initrd goes to /var/lib/kdump.
        let ro = table().with_dir("/boot", false);
        let plan = start(&cfg, &f, &CaptureFacts::default(), &ro, false).unwrap();
        assert_eq!(
            plan.load.unwrap().initrds,
            [PathBuf::from(format!(
                "/var/lib/kdump/initramfs-{V}kdump.img"
            ))]
        );
        // No mkdumprd when one is needed: the error a real run would hit.
        let none = FileTable::default()
            .with_dir("/boot", true)
            .with_file(&format!("/boot/vmlinuz-{V}"), 100);
        let e = start(&cfg, &f, &CaptureFacts::default(), &none, false).unwrap_err();
        assert_eq!(e.code, crate::error::ExitCode::NotInstalled);
        assert!(e.message.contains("mkdumprd is not installed"), "{e}");
    }

    #[test]
    fn test_feasibility_and_already_loaded() {
        let root = Root::default();
        let config = config(&root, "");
        let cfg = KdumpConfig {
            family: Family::RedHat,
            config: &config,
            policy: RebuildPolicy::default(),
            chroot: None,
        };
        let mut f = facts("ro");
        f.kexec.crash_size = Some(0);
        let e = start(&cfg, &f, &CaptureFacts::default(), &table(), false).unwrap_err();
        assert_eq!(e.code, crate::error::ExitCode::NotConfigured);
        let mut f = facts("ro");
        f.kexec.crash_loaded = true;
        assert_eq!(
            start(&cfg, &f, &CaptureFacts::default(), &table(), false)
                .unwrap()
                .action,
            Action::Skip
        );
        let reload = start(&cfg, &f, &CaptureFacts::default(), &table(), true).unwrap();
        assert!(matches!(reload.steps[0], Step::Unload { crash: true, .. }));
        assert!(
            !reload
                .steps
                .iter()
                .any(|s| matches!(s, Step::BuildInitrd { .. }))
        );
    }

    #[test]
    fn test_debian_plan_from_literals() {
        let root = Root::default();
        let mut shell = crate::config::Shell::new(Vec::new(), || Ok("x".to_string()));
        shell
            .source(
                Path::new(KDUMP_TOOLS),
                b"USE_KDUMP=1\nKDUMP_KERNEL=/var/lib/kdump/vmlinuz\nKDUMP_CMDLINE_APPEND=\"nr_cpus=1\"\n",
            )
            .unwrap();
        let config = Config {
            files: vec![KDUMP_TOOLS.into()],
            shell,
        };
        let _ = &root;
        let cfg = KdumpConfig {
            family: Family::Debian,
            config: &config,
            policy: RebuildPolicy::default(),
            chroot: None,
        };
        let mut f = facts("BOOT_IMAGE=/boot/vmlinuz-6.1 ro crashkernel=256M");
        f.release = Ok("6.1".into());
        let files = FileTable::default()
            .with_file("/boot/vmlinuz-6.1", 1)
            .with_file("/boot/initrd.img-6.1", 1);
        let plan = start(&cfg, &f, &CaptureFacts::default(), &files, false).unwrap();
        let load = plan.load.as_ref().unwrap();
        assert_eq!(load.kernel, PathBuf::from("/boot/vmlinuz-6.1"));
        // KDUMP_KERNEL without KDUMP_INITRD: kdump-config loads no initrd.
        assert!(load.initrds.is_empty());
        assert_eq!(load.cmdline, "BOOT_IMAGE=/boot/vmlinuz-6.1 ro nr_cpus=1");
        assert!(matches!(&plan.steps[1], Step::Sysctl { value, .. } if value == "1"));
    }
}
