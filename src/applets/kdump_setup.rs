//! `kdump-setup ACTION`: Red Hat's kdump service (`kdumpctl`), and Debian's
//! kdump-tools when the system has `/etc/default/kdump-tools` instead of
//! `/etc/sysconfig/kdump`. One tool arms kdump on both families, through
//! the same loader as the kexec reboot path.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde::Serialize;

use crate::applet::Applet;
use crate::cli::{self, Ctx, Exit, GlobalArgs, Status};
use crate::config::{self, Config, LegacySet};
use crate::error::{Error, ExitCode, IoResultExt, Result};
use crate::kdump::{self, Family, KernelSearch, Rebuild, RebuildPolicy};
use crate::loader::{self, LoadSpec};
use crate::reboot::proc_cmdline;
use crate::state::KexecState;
use crate::sys::{self, Kexec, errno_name};

const USAGE: &str =
    "Usage: kdump-setup {start|stop|status|restart|reload|condrestart|try-restart|rebuild|showmem}";
const KDUMP_CONF: &str = "/etc/kdump.conf";
const MKDUMPRD: &[&str] = &["/usr/sbin/mkdumprd", "/sbin/mkdumprd"];

#[derive(Debug, Parser)]
#[command(
    name = "kdump-setup",
    version,
    about = "Arm kdump: load the crash kernel (Red Hat's kdump service, Debian's kdump-tools)",
    after_help = "Actions: start, stop, status (0 operational, 3 not), restart, reload, \
                  condrestart/try-restart, rebuild (the kdump initrd), showmem."
)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// start | stop | status | restart | reload | condrestart | try-restart | rebuild | showmem
    pub action: Option<String>,
}

/// kdumpctl's messages: on stderr, prefixed `kdump: `.
fn say(text: &str) {
    eprintln!("kdump: {text}");
}

pub fn main(args: Vec<OsString>) -> Result<Status, Exit> {
    let (args, ctx) = cli::start::<Args>(Applet::KdumpSetup, args, |a| &a.global)?;
    let sys = sys::from_env();
    let sys = &*sys;
    let status = match args.action.as_deref() {
        Some("start") => start(&ctx, sys, false),
        Some("stop") => stop(&ctx, sys),
        Some("status") => Ok(status(&ctx)),
        Some("restart") => stop(&ctx, sys).and_then(|_| start(&ctx, sys, false)),
        Some("reload") => reload(&ctx, sys),
        Some("condrestart" | "try-restart") => {
            if KexecState::read(&ctx.root).crash_loaded {
                stop(&ctx, sys).and_then(|_| start(&ctx, sys, false))
            } else {
                Ok(0)
            }
        }
        Some("rebuild") => rebuild(&ctx),
        Some("showmem") => showmem(&ctx),
        _ => {
            eprintln!("{USAGE}");
            return Ok(1);
        }
    };
    Ok(status?)
}

/// What `start` would do.
#[derive(Debug, Clone, Serialize)]
pub struct KdumpPlan {
    /// `load` or `skip`.
    pub action: &'static str,
    pub reason: Option<String>,
    /// `redhat` (/etc/sysconfig/kdump) or `debian` (/etc/default/kdump-tools).
    pub family: &'static str,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub cmdline: Option<String>,
    /// Whether and why the kdump initrd would be rebuilt (Red Hat only).
    pub rebuild: Option<Rebuild>,
    /// KEXEC_ARGS / KDUMP_KEXEC_ARGS words.
    pub kexec_args: Vec<String>,
    #[serde(skip)]
    version: String,
    #[serde(skip)]
    mkdumprd_args: Vec<String>,
    #[serde(skip)]
    debug: bool,
    #[serde(skip)]
    foreign_args: Vec<String>,
}

impl KdumpPlan {
    fn skip(family: &'static str, reason: String) -> Self {
        KdumpPlan {
            action: "skip",
            reason: Some(reason),
            family,
            kernel: None,
            initrd: None,
            cmdline: None,
            rebuild: None,
            kexec_args: Vec::new(),
            version: String::new(),
            mkdumprd_args: Vec::new(),
            debug: false,
            foreign_args: Vec::new(),
        }
    }

    fn describe(&self) -> String {
        if self.action == "skip" {
            return format!(
                "would not load a crash kernel: {}",
                self.reason.as_deref().unwrap_or("")
            );
        }
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none)".into())
        };
        let mut s = format!(
            "would load the crash kernel ({}):\n  kernel:  {}\n  initrd:  {}\n  cmdline: {}",
            self.family,
            path(&self.kernel),
            path(&self.initrd),
            self.cmdline.as_deref().unwrap_or("")
        );
        if let Some(r) = &self.rebuild {
            s.push_str(&format!(
                "\n  rebuild: {} ({})",
                if r.needed { "yes" } else { "no" },
                r.reason
            ));
        }
        s
    }
}

fn family(root: &crate::root::Root) -> Result<(Family, Config<'_>)> {
    if let Some(config) = config::read_set(root, LegacySet::RedHatKdump)? {
        return Ok((Family::RedHat, config));
    }
    if let Some(config) = config::read_set(root, LegacySet::DebianKdumpTools)? {
        return Ok((Family::Debian, config));
    }
    if root.host(KDUMP_CONF).is_file() {
        // kdumpctl runs with its defaults when the sysconfig file is absent.
        let config = config::read_files(
            root,
            &[],
            false,
            std::env::vars_os(),
            Some(LegacySet::RedHatKdump),
        )?;
        return Ok((Family::RedHat, config));
    }
    Err(Error::not_configured(
        "kdump is not configured: none of /etc/sysconfig/kdump, /etc/default/kdump-tools or \
         /etc/kdump.conf exists",
    ))
}

fn boot_image(cmdline: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .find_map(|t| t.strip_prefix("BOOT_IMAGE="))
        .map(str::to_string)
}

fn writable(host: &Path) -> bool {
    nix::unistd::access(host, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Where a configuration variable was set, for messages.
fn source(config: &Config, name: &str) -> kdump::Source {
    let origin = config
        .shell
        .var(name)
        .map(|v| v.origin.clone())
        .unwrap_or(config::Origin::Default);
    kdump::Source::variable(name, origin)
}

/// The machine facts kdumpctl's prepare_cmdline reads (to move into the
/// facts module): /proc/cpuinfo, /sys/class/watchdog/*/device/modalias
/// with /lib/modules/VERSION/modules{,.builtin}.alias, and the SMBIOS
/// table /sys/firmware/dmi/tables/DMI.
struct CaptureFacts {
    apicid: Option<String>,
    watchdog_drivers: Vec<String>,
    aws_graviton: bool,
}

fn capture_facts(root: &crate::root::Root, version: &str) -> CaptureFacts {
    let read = |p: &str| fs::read_to_string(root.host(p)).unwrap_or_default();
    let mut devices = Vec::new();
    if let Ok(entries) = fs::read_dir(root.host("/sys/class/watchdog")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let modalias = fs::read_to_string(entry.path().join("device/modalias")).ok();
            devices.push(kdump::WatchdogDevice { name, modalias });
        }
    }
    let aliases = kdump::ModuleAliases::parse(
        &read(&format!("/lib/modules/{version}/modules.alias")),
        &read(&format!("/lib/modules/{version}/modules.builtin.alias")),
    );
    let dmi = fs::read(root.host("/sys/firmware/dmi/tables/DMI")).unwrap_or_default();
    CaptureFacts {
        apicid: kdump::boot_cpu_apicid(&read("/proc/cpuinfo")),
        watchdog_drivers: kdump::watchdog_drivers(&devices, &aliases),
        aws_graviton: kdump::is_aws_graviton(&kdump::dmi_processor_names(&dmi)),
    }
}

fn redhat_plan(ctx: &Ctx, config: &Config) -> Result<KdumpPlan> {
    let root = &ctx.root;
    for warning in kdump::redhat_warnings(config) {
        log::warn!("{warning}");
    }
    let get = |name: &str| config.get(name).unwrap_or("").to_string();
    let release = config::kernel_release(root)?;
    let wanted = match get("KDUMP_KERNELVER") {
        v if v.is_empty() => release,
        v => v,
    };
    let dirs_text = match get("KDUMP_BOOTDIR") {
        v if v.trim().is_empty() => kdump::DEFAULT_BOOTDIRS.to_string(),
        v => v,
    };
    let img = match get("KDUMP_IMG") {
        v if v.is_empty() => "vmlinuz".to_string(),
        v => v,
    };
    let img_ext = get("KDUMP_IMG_EXT");
    let current = proc_cmdline(root).unwrap_or_default();
    let image = boot_image(&current);
    let machine_id = fs::read_to_string(root.host("/etc/machine-id"))
        .ok()
        .map(|s| s.trim().to_string());
    let stub_image = fs::read(root.host(kdump::STUB_IMAGE_IDENTIFIER))
        .ok()
        .map(|v| kdump::uki_from_stub_image_identifier(&v));
    let search = KernelSearch {
        dirs: dirs_text.split_whitespace().map(str::to_string).collect(),
        img: &img,
        img_ext: &img_ext,
        boot_image: image.as_deref(),
        machine_id: machine_id.as_deref(),
        stub_image: stub_image.as_deref(),
    };
    // A debug kernel prefers its non-debug sibling when that exists.
    let (version, kernel) = match kdump::non_debug(&wanted) {
        Some(plain) => match search.find(root, plain) {
            Some(k) => {
                log::info!("use of debug kernel detected; using {plain}");
                (plain.to_string(), Some(k))
            }
            None => (wanted.clone(), search.find(root, &wanted)),
        },
        None => (wanted.clone(), search.find(root, &wanted)),
    };
    let Some(kernel) = kernel else {
        return Err(Error::not_installed(format!(
            "Failed to detect kdump kernel location: no {img}-{version}{img_ext} in {dirs_text} \
             (KDUMP_KERNELVER, KDUMP_BOOTDIR, KDUMP_IMG in /etc/sysconfig/kdump)"
        )));
    };
    let kernel_dir = kernel.parent().unwrap_or(Path::new("/")).to_path_buf();
    let default_initrd = [format!("initramfs-{version}.img"), "initrd".to_string()]
        .into_iter()
        .find(|name| root.host(kernel_dir.join(name)).is_file());
    let kernel_dir_writable = writable(&root.host(&kernel_dir));
    if !kernel_dir_writable {
        log::info!(
            "{} is not writable; the kdump initrd goes to {}",
            kernel_dir.display(),
            kdump::VAR_LIB_KDUMP
        );
    }
    let initrd = kdump::kdump_initrd_path(
        &kernel_dir,
        default_initrd.as_deref(),
        kernel_dir_writable,
        &version,
    );
    let policy = match fs::read_to_string(root.host(KDUMP_CONF)) {
        Ok(text) => kdump::parse_kdump_conf(Path::new(KDUMP_CONF), &text)?,
        Err(_) => RebuildPolicy::default(),
    };
    let rebuild = kdump::rebuild_needed(
        root,
        policy,
        &initrd,
        &[
            &kernel,
            Path::new(KDUMP_CONF),
            Path::new("/etc/sysconfig/kdump"),
        ],
    );
    let kdump_commandline = get("KDUMP_COMMANDLINE");
    let (base, from_proc) = kdump::capture_base(&kdump_commandline, &current);
    let facts = capture_facts(root, &version);
    let remove = get("KDUMP_COMMANDLINE_REMOVE");
    let append = get("KDUMP_COMMANDLINE_APPEND");
    let cmdline = kdump::capture_cmdline(&kdump::CaptureInputs {
        base,
        base_source: if from_proc {
            kdump::Source::ProcCmdline
        } else {
            source(config, "KDUMP_COMMANDLINE")
        },
        remove: &remove,
        remove_source: source(config, "KDUMP_COMMANDLINE_REMOVE"),
        append: &append,
        append_source: source(config, "KDUMP_COMMANDLINE_APPEND"),
        boot_cpu_apicid: facts.apicid.as_deref(),
        watchdog_drivers: &facts.watchdog_drivers,
        aws_graviton: facts.aws_graviton,
    })?;
    let args = kdump::parse_kexec_args(&get("KEXEC_ARGS"));
    Ok(KdumpPlan {
        action: "load",
        reason: None,
        family: "redhat",
        kernel: Some(kernel),
        initrd: Some(initrd),
        cmdline: Some(cmdline),
        rebuild: Some(rebuild),
        kexec_args: args.all.clone(),
        version,
        mkdumprd_args: get("MKDUMPRD_ARGS")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        debug: args.debug,
        foreign_args: args.foreign,
    })
}

fn debian_plan(ctx: &Ctx, config: &Config) -> Result<KdumpPlan> {
    let root = &ctx.root;
    let get = |name: &str| config.get(name).unwrap_or("").to_string();
    let enabled = get("USE_KDUMP").trim().parse::<i64>().is_ok_and(|n| n != 0);
    if !enabled {
        return Ok(KdumpPlan::skip(
            "debian",
            format!(
                "USE_KDUMP is {:?} in /etc/default/kdump-tools",
                get("USE_KDUMP")
            ),
        ));
    }
    let release = config::kernel_release(root)?;
    let relocatable = fs::read_to_string(root.host(format!("/boot/config-{release}")))
        .is_ok_and(|c| kdump::config_relocatable(&c));
    let (kernel, initrd) = kdump::debian_kernel_initrd(
        &kdump::DebianBoot {
            kdump_kernel: &get("KDUMP_KERNEL"),
            kdump_initrd: &get("KDUMP_INITRD"),
            release: &release,
            relocatable,
        },
        |p| root.host(p).exists(),
    )?;
    let (base, base_source) = match get("KDUMP_CMDLINE") {
        c if c.is_empty() => (
            kdump::debian_default_base(&proc_cmdline(root)?),
            kdump::Source::ProcCmdline,
        ),
        c => (c, source(config, "KDUMP_CMDLINE")),
    };
    let cmdline = kdump::debian_cmdline(
        &base,
        &base_source,
        &get("KDUMP_CMDLINE_APPEND"),
        &source(config, "KDUMP_CMDLINE_APPEND"),
    )?;
    let args = kdump::parse_kexec_args(&get("KDUMP_KEXEC_ARGS"));
    Ok(KdumpPlan {
        action: "load",
        reason: None,
        family: "debian",
        kernel: Some(PathBuf::from(kernel)),
        initrd: initrd.map(PathBuf::from),
        cmdline: Some(cmdline),
        rebuild: None,
        kexec_args: args.all.clone(),
        version: release,
        mkdumprd_args: Vec::new(),
        debug: args.debug,
        foreign_args: args.foreign,
    })
}

fn plan(ctx: &Ctx) -> Result<KdumpPlan> {
    let (family, config) = family(&ctx.root)?;
    match family {
        Family::RedHat => redhat_plan(ctx, &config),
        Family::Debian => debian_plan(ctx, &config),
    }
}

fn load_spec(plan: &KdumpPlan) -> LoadSpec {
    let mut spec = LoadSpec::new(
        plan.kernel.clone().unwrap_or_default(),
        plan.initrd.iter().cloned().collect(),
        plan.cmdline.clone().unwrap_or_default(),
    );
    spec.crash = true;
    spec.debug = plan.debug;
    spec.kexec_tools_args = plan.kexec_args.clone();
    if !plan.foreign_args.is_empty() {
        spec.force_kexec_tools = Some(format!(
            "kexec option(s) {} need kexec-tools",
            plan.foreign_args.join(" ")
        ));
    }
    spec
}

fn run_mkdumprd(ctx: &Ctx, plan: &KdumpPlan) -> Result<()> {
    let initrd = plan.initrd.as_ref().expect("Red Hat plans have an initrd");
    let Some(mkdumprd) = MKDUMPRD
        .iter()
        .map(|p| ctx.root.host(p))
        .find(|p| p.is_file())
    else {
        return Err(Error::not_installed(format!(
            "the kdump initrd {} must be built, but mkdumprd is not installed (it comes with \
             kexec-tools or kdump-utils)",
            initrd.display()
        )));
    };
    say(&format!("Rebuilding {}", initrd.display()));
    let host = ctx.root.host(initrd);
    if let Some(dir) = host.parent() {
        fs::create_dir_all(dir).at_path(initrd.parent().unwrap_or(Path::new("/")))?;
    }
    let status = Command::new(&mkdumprd)
        .args(&plan.mkdumprd_args)
        .arg("-f")
        .arg(&host)
        .arg(&plan.version)
        .status()
        .map_err(|e| Error::failure(format!("running {}: {e}", mkdumprd.display())))?;
    if !status.success() {
        return Err(Error::failure(format!(
            "mkdumprd: failed to make kdump initrd {} ({status})",
            initrd.display()
        )));
    }
    Ok(())
}

/// The checks kdumpctl makes before anything else.
fn check_feasible(ctx: &Ctx, state: &KexecState) -> Result<()> {
    let supported = [
        "/sys/kernel/kexec/crash_loaded",
        "/sys/kernel/kexec_crash_loaded",
    ]
    .iter()
    .any(|p| ctx.root.host(p).exists());
    if !supported {
        return Err(Error::not_installed(
            "Kdump is not supported on this kernel",
        ));
    }
    if state.crash_size.unwrap_or(0) == 0 {
        return Err(kdump::no_reservation());
    }
    Ok(())
}

fn start(ctx: &Ctx, sys: &dyn Kexec, reload: bool) -> Result<Status> {
    let result = start_inner(ctx, sys, reload);
    if result.is_err() && !ctx.dry_run {
        say("Starting kdump: [FAILED]");
    }
    result
}

fn start_inner(ctx: &Ctx, sys: &dyn Kexec, reload: bool) -> Result<Status> {
    let state = KexecState::read(&ctx.root);
    let plan = match check_feasible(ctx, &state) {
        Err(e) if ctx.dry_run && ctx.json => {
            // A dry run still says what it would not do, and why.
            let p = KdumpPlan::skip("unknown", e.message.clone());
            cli::print_json(&p)?;
            return Err(e);
        }
        Err(e) => return Err(e),
        Ok(()) if state.crash_loaded && !reload => {
            let p = KdumpPlan::skip("unknown", "a crash kernel is already loaded".into());
            if ctx.json {
                cli::print_json(&p)?;
            }
            say("Kdump already running: [WARNING]");
            return Ok(0);
        }
        Ok(()) => plan(ctx)?,
    };
    if plan.action == "skip" {
        if ctx.json {
            cli::print_json(&plan)?;
        } else if ctx.dry_run {
            println!("{}", plan.describe());
        } else {
            log::info!("{}", plan.reason.as_deref().unwrap_or(""));
        }
        return Ok(0);
    }
    let rebuild = !reload && plan.rebuild.as_ref().is_some_and(|r| r.needed);
    if ctx.dry_run {
        if !rebuild {
            // The initrd exists: check the whole load as it would run.
            loader::preflight(&ctx.root, &load_spec(&plan), &state, std::env::consts::ARCH)?;
        }
        if ctx.json {
            cli::print_json(&plan)?;
        } else {
            println!("{}", plan.describe());
        }
        return Ok(0);
    }
    if rebuild {
        run_mkdumprd(ctx, &plan)?;
    }
    let spec = load_spec(&plan);
    let checked = loader::preflight(&ctx.root, &spec, &state, std::env::consts::ARCH)?;
    loader::load(&checked, sys, std::env::consts::ARCH)?;
    if plan.family == "debian" {
        // kdump-config turns oopses into panics so that they are dumped.
        let path = ctx.root.host("/proc/sys/kernel/panic_on_oops");
        if let Err(e) = fs::write(&path, b"1\n") {
            log::warn!("cannot set kernel.panic_on_oops=1: {e}");
        }
    }
    if ctx.json {
        cli::print_json(&plan)?;
    }
    say("Starting kdump: [OK]");
    Ok(0)
}

fn stop(ctx: &Ctx, sys: &dyn Kexec) -> Result<Status> {
    if !KexecState::read(&ctx.root).crash_loaded {
        say("Stopping kdump: [OK]");
        return Ok(0);
    }
    if ctx.dry_run {
        println!("would unload the crash kernel");
        return Ok(0);
    }
    match sys.file_unload(true) {
        Ok(()) => {
            say("Stopping kdump: [OK]");
            Ok(0)
        }
        Err(e) => {
            say("Stopping kdump: [FAILED]");
            Err(Error::new(
                if e == sys::Errno::EPERM {
                    ExitCode::Privilege
                } else {
                    ExitCode::Failure
                },
                format!(
                    "failed to unload kdump kernel: {} ({})",
                    errno_name(e),
                    e.desc()
                ),
            ))
        }
    }
}

fn reload(ctx: &Ctx, sys: &dyn Kexec) -> Result<Status> {
    if !KexecState::read(&ctx.root).crash_loaded {
        say("Kdump was not running: [WARNING]");
    } else if !ctx.dry_run {
        stop(ctx, sys)?;
    }
    start(ctx, sys, true)
}

fn status(ctx: &Ctx) -> Status {
    if KexecState::read(&ctx.root).crash_loaded {
        say("Kdump is operational");
        0
    } else {
        say("Kdump is not operational");
        3
    }
}

fn rebuild(ctx: &Ctx) -> Result<Status> {
    let plan = plan(ctx)?;
    if plan.family != "redhat" {
        return Err(Error::usage(
            "rebuild builds Red Hat's kdump initrd; on Debian the kernel hooks of kdump-tools do",
        ));
    }
    if ctx.dry_run {
        println!(
            "would run mkdumprd -f {} {}",
            plan.initrd
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            plan.version
        );
        return Ok(0);
    }
    run_mkdumprd(ctx, &plan)?;
    Ok(0)
}

fn showmem(ctx: &Ctx) -> Result<Status> {
    let size = KexecState::read(&ctx.root).crash_size.unwrap_or(0);
    say(&format!(
        "Reserved {}MB memory for crash kernel",
        size / (1024 * 1024)
    ));
    Ok(0)
}
