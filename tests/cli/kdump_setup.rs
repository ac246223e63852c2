//! kdump-setup, Red Hat's kdump service and Debian's kdump-tools, through
//! the built binary: Red Hat layouts (RHEL 6/7/8/9, Fedora, BLS machine-id
//! directories, debug kernels, read-only /boot), the rebuild decision with
//! a fake mkdumprd, the crash reservation, the actions and their messages,
//! KEXEC_ARGS, and Debian's kdump-tools.

use std::fs;
use std::process::Command;

use serde_json::Value;

use crate::util::{
    Host, MACHINE_ID, RHEL9_CMDLINE as CMDLINE, RHEL9_VER as VER, UUID, bzimage, corpus, run,
};

const WORKED: &str = "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 ro resume=/dev/mapper/rhel-swap rhgb irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable novmcoredd cma=0 hugetlb_cma=0 disable_cpu_apicid=0 rd.systemd.gpt_auto=no";

fn dry_plan(host: &Host) -> Value {
    let out = host.run("kdump-setup", &["--dry-run", "--json", "start"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn test_rhel9_worked_example() {
    let plan = dry_plan(&Host::fixture("rhel-9"));
    assert_eq!(plan["action"], "load");
    assert_eq!(plan["kdump"]["family"], "redhat");
    assert_eq!(plan["load"]["kernel"], format!("/boot/vmlinuz-{VER}"));
    assert_eq!(
        plan["load"]["initrds"][0],
        format!("/boot/initramfs-{VER}kdump.img")
    );
    assert_eq!(plan["load"]["cmdline"], WORKED);
    assert_eq!(plan["kdump"]["rebuild"]["needed"], false, "{plan}");
    assert_eq!(plan["kdump"]["kexec_args"], serde_json::json!(["-s"]));
}

#[test]
fn test_start_loads_the_crash_kernel() {
    let host = Host::fixture("rhel-9");
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "kdump: Starting kdump: [OK]\n");
    let calls = host.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["call"], "file_load");
    assert_eq!(calls[0]["flags"], 2, "KEXEC_FILE_ON_CRASH");
    assert!(
        calls[0]["initrd"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/boot/initramfs-{VER}kdump.img"))
    );
    assert_eq!(calls[0]["cmdline"], WORKED);
}

#[test]
fn test_missing_initrd_is_rebuilt_with_mkdumprd() {
    let host = Host::fixture("rhel-9");
    fs::remove_file(host.root().join(format!("boot/initramfs-{VER}kdump.img"))).unwrap();
    let plan = dry_plan(&host);
    assert_eq!(plan["kdump"]["rebuild"]["needed"], true);
    assert_eq!(
        plan["kdump"]["rebuild"]["reason"],
        "no kdump initial ramdisk found"
    );
    assert!(!host.exists("/mkdumprd.args"), "a dry run runs nothing");
    // On a real machine, the tree's mkdumprd would run chrooted into it.
    let out = run(&mut host.cmd_real("kdump-setup", &["--dry-run", "--json", "start"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let real: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(real["steps"][0]["step"], "build-initrd");
    assert_eq!(
        real["steps"][0]["program"]["chroot"],
        host.root().display().to_string()
    );
    assert!(!host.exists("/mkdumprd.args"));
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "kdump: Rebuilding /boot/initramfs-{VER}kdump.img\n"
        )),
        "{}",
        out.stderr
    );
    let args: Vec<String> = host
        .read("/mkdumprd.args")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(args[0], "-f");
    assert_eq!(args[1], format!("/boot/initramfs-{VER}kdump.img"));
    assert_eq!(args[2], VER);
    let calls: Vec<Value> = host.calls().iter().map(|c| c["call"].clone()).collect();
    assert_eq!(calls, ["create_dir", "run", "file_load"]);
}

#[test]
fn test_stale_initrd_and_force_directives() {
    let host = Host::fixture("rhel-9");
    host.age(&format!("/boot/initramfs-{VER}kdump.img"), 7200);
    let plan = dry_plan(&host);
    assert_eq!(plan["kdump"]["rebuild"]["needed"], true);
    assert!(
        plan["kdump"]["rebuild"]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("/boot/vmlinuz-{VER} is newer"))
    );
    host.write("/etc/kdump.conf", "force_no_rebuild 1\n");
    host.age("/etc/kdump.conf", 9000);
    assert_eq!(dry_plan(&host)["kdump"]["rebuild"]["needed"], false);
    host.write("/etc/kdump.conf", "force_rebuild 1\n");
    let plan = dry_plan(&host);
    assert_eq!(
        plan["kdump"]["rebuild"]["reason"],
        "force_rebuild is set in /etc/kdump.conf"
    );
    host.write("/etc/kdump.conf", "force_rebuild yes\n");
    let out = host.run("kdump-setup", &["--dry-run", "start"]);
    assert_eq!(out.code, 6);
    assert!(
        out.stderr
            .contains("/etc/kdump.conf:1:1: force_rebuild value is invalid"),
        "{}",
        out.stderr
    );
}

#[test]
fn test_rebuild_without_mkdumprd_fails_clearly() {
    let host = Host::fixture("rhel-9");
    fs::remove_file(host.root().join(format!("boot/initramfs-{VER}kdump.img"))).unwrap();
    fs::remove_file(host.root().join("usr/sbin/mkdumprd")).unwrap();
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("kdump: Starting kdump: [FAILED]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("mkdumprd is not installed"),
        "{}",
        out.stderr
    );
    assert!(host.calls().is_empty());
}

#[test]
fn test_no_crash_reservation() {
    let host = Host::fixture("rhel-9");
    host.write("/sys/kernel/kexec_crash_size", "0\n");
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("No memory reserved for crash kernel"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("kdump: Starting kdump: [FAILED]"));
    assert!(host.calls().is_empty());
    let out = host.run("kdump-setup", &["--dry-run", "--json", "start"]);
    assert_eq!(out.code, 6);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["error"]["exit_code"], 6, "{plan}");
    assert_eq!(plan["error"]["kind"], "not-configured");
    assert!(
        plan["error"]["message"]
            .as_str()
            .unwrap()
            .contains("No memory reserved")
    );
}

#[test]
fn test_already_loaded_status_stop_showmem() {
    let host = Host::fixture("rhel-9");
    let out = host.run("kdump-setup", &["status"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (3, "kdump: Kdump is not operational\n")
    );
    host.write("/sys/kernel/kexec_crash_loaded", "1\n");
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (0, "kdump: Kdump already running: [WARNING]\n")
    );
    assert!(host.calls().is_empty());
    let out = host.run("kdump-setup", &["status"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (0, "kdump: Kdump is operational\n")
    );
    let out = host.run("kdump-setup", &["stop"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        host.calls()[0],
        serde_json::json!({"call": "file_unload", "crash": true})
    );
    let out = host.run("kdump-setup", &["showmem"]);
    assert_eq!(
        out.stderr,
        "kdump: Reserved 256 MiB memory for crash kernel\n"
    );
    let out = host.run("kdump-setup", &["bogus"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("Usage: kdump-setup {start|stop|status"),
        "{}",
        out.stderr
    );
}

#[test]
fn test_restart_and_condrestart() {
    let host = Host::fixture("rhel-9");
    host.write("/sys/kernel/kexec_crash_loaded", "1\n");
    // restart = stop + start: the recording system clears kexec_crash_loaded
    // on the unload, as the kernel would, so start loads again.
    let out = host.run("kdump-setup", &["try-restart"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let calls: Vec<Value> = host.calls().iter().map(|c| c["call"].clone()).collect();
    assert_eq!(calls, ["file_unload", "file_load"]);
    assert_eq!(host.read("/sys/kernel/kexec_crash_loaded"), "1\n");
    let host = Host::fixture("rhel-9");
    let out = host.run("kdump-setup", &["condrestart"]);
    assert_eq!(out.code, 0);
    assert!(
        host.calls().is_empty(),
        "condrestart does nothing when not loaded"
    );
}

#[test]
fn test_release_layouts() {
    // RHEL 6: single KDUMP_BOOTDIR, no REMOVE variable (default set applies).
    let host = Host::fixture("rhel-9");
    host.write("/etc/sysconfig/kdump", &corpus("rhel6-x86_64.sysconfig"));
    let plan = dry_plan(&host);
    assert_eq!(plan["load"]["kernel"], format!("/boot/vmlinuz-{VER}"));
    let cmdline = plan["load"]["cmdline"].as_str().unwrap();
    assert!(cmdline.ends_with("irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off acpi_no_memhotplug disable_cpu_apicid=0 rd.systemd.gpt_auto=no"), "{cmdline}");
    assert!(
        cmdline.contains(" quiet "),
        "quiet is not in the default REMOVE: {cmdline}"
    );
    // RHEL 7 and 8 and Fedora files work as shipped.
    for file in [
        "rhel7-x86_64.sysconfig",
        "rhel8-x86_64.sysconfig",
        "fedora-x86_64.sysconfig",
    ] {
        let host = Host::fixture("rhel-9");
        host.write("/etc/sysconfig/kdump", &corpus(file));
        let plan = dry_plan(&host);
        assert_eq!(
            plan["load"]["kernel"],
            format!("/boot/vmlinuz-{VER}"),
            "{file}"
        );
        assert!(
            !plan["load"]["cmdline"]
                .as_str()
                .unwrap()
                .contains("crashkernel"),
            "{file}"
        );
    }
}

#[test]
fn test_bls_machine_id_layout() {
    let host = Host::fixture("rhel-9");
    fs::remove_file(host.root().join(format!("boot/vmlinuz-{VER}"))).unwrap();
    host.write(
        "/proc/cmdline",
        &CMDLINE.replace(
            "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 ",
            "",
        ),
    );
    let dir = format!("/boot/{MACHINE_ID}/{VER}");
    host.write_bytes(&format!("{dir}/vmlinuz"), &bzimage());
    host.write(&format!("{dir}/initrd"), "default");
    let plan = dry_plan(&host);
    assert_eq!(plan["load"]["kernel"], format!("{dir}/vmlinuz"));
    assert_eq!(plan["load"]["initrds"][0], format!("{dir}/initrdkdump"));
}

#[test]
fn test_debug_kernel_prefers_its_sibling() {
    let host = Host::fixture("rhel-9");
    host.write("/proc/sys/kernel/osrelease", &format!("{VER}+debug\n"));
    host.write_bytes(&format!("/boot/vmlinuz-{VER}+debug"), &bzimage());
    assert_eq!(
        dry_plan(&host)["load"]["kernel"],
        format!("/boot/vmlinuz-{VER}")
    );
    fs::remove_file(host.root().join(format!("boot/vmlinuz-{VER}"))).unwrap();
    // Without a default initrd beside it, kdumpctl (v1.0.61) puts the kdump
    // initrd under /var/lib/kdump; with one, beside it, named after it.
    let plan = dry_plan(&host);
    assert_eq!(plan["load"]["kernel"], format!("/boot/vmlinuz-{VER}+debug"));
    assert_eq!(
        plan["load"]["initrds"][0],
        format!("/var/lib/kdump/initramfs-{VER}+debugkdump.img")
    );
    host.write(&format!("/boot/initramfs-{VER}+debug.img"), "default");
    assert_eq!(
        dry_plan(&host)["load"]["initrds"][0],
        format!("/boot/initramfs-{VER}+debugkdump.img")
    );
}

#[test]
fn test_read_only_boot_uses_var_lib_kdump() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root for a read-only bind mount"
    );
    let host = Host::fixture("rhel-9");
    fs::remove_file(host.root().join(format!("boot/initramfs-{VER}kdump.img"))).unwrap();
    let boot = host.root().join("boot");
    let inner = format!(
        "mount --bind -o ro {b} {b} && exec \"$0\" \"$@\"",
        b = boot.display()
    );
    let cmd = host.cmd("kdump-setup", &["--dry-run", "--json", "start"]);
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--mount", "--propagation", "private", "sh", "-c", &inner])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    let out = run(&mut wrapped);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        plan["load"]["initrds"][0],
        format!("/var/lib/kdump/initramfs-{VER}kdump.img")
    );
}

#[test]
fn test_kexec_args_debug_and_delegation() {
    let host = Host::fixture("rhel-9");
    host.edit(
        "/etc/sysconfig/kdump",
        "KEXEC_ARGS=\"-s\"",
        "KEXEC_ARGS=\"-s -d\"",
    );
    assert_eq!(host.run("kdump-setup", &["start"]).code, 0);
    assert_eq!(host.calls()[0]["flags"], 2 | 8, "ON_CRASH | DEBUG");
    // An option kexecctl cannot honour hands the load to kexec-tools.
    let host = Host::fixture("rhel-9");
    host.edit(
        "/etc/sysconfig/kdump",
        "KEXEC_ARGS=\"-s\"",
        "KEXEC_ARGS=\"--elf32-core-headers\"",
    );
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 5, "no /sbin/kexec in the tree: {}", out.stderr);
    assert!(
        out.stderr
            .contains("--elf32-core-headers (/etc/sysconfig/kdump:17) need kexec-tools"),
        "{}",
        out.stderr
    );
    host.write_bytes("/sbin/kexec", b"");
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("loading with"), "{}", out.stderr);
    let call = &host.calls()[0];
    assert_eq!(call["call"], "run");
    let args: Vec<&str> = call["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..2], ["--elf32-core-headers", "-p"]);
    assert_eq!(args[3], format!("--command-line={WORKED}"));
}

#[test]
fn test_internal_variables_warn() {
    let host = Host::fixture("rhel-9");
    let text = host.read("/etc/sysconfig/kdump")
        + "KDUMP_KERNEL=/boot/custom\nMKDUMPRD_ARGS=\"--add-drivers x\"\n";
    host.write("/etc/sysconfig/kdump", &text);
    let out = host.run("kdump-setup", &["--dry-run", "start"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("warning: KDUMP_KERNEL (/etc/sysconfig/kdump:"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("MKDUMPRD_ARGS is only read by RHEL 5/6"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// Debian kdump-tools

#[test]
fn test_debian_kdump_tools() {
    let host = Host::fixture("debian-kdump-tools");
    let plan = dry_plan(&host);
    assert_eq!(plan["kdump"]["family"], "debian");
    assert_eq!(plan["load"]["kernel"], "/boot/vmlinuz-6.1.0-28-amd64");
    assert_eq!(
        plan["load"]["initrds"][0],
        "/var/lib/kdump/initrd.img-6.1.0-28-amd64"
    );
    assert_eq!(
        plan["load"]["cmdline"],
        format!(
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID={UUID} ro quiet reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb"
        )
    );
    assert_eq!(plan["kdump"]["rebuild"], Value::Null);
    host.write("/proc/sys/kernel/panic_on_oops", "0\n");
    assert_eq!(host.run("kdump-setup", &["start"]).code, 0);
    assert_eq!(host.calls()[0]["flags"], 2);
    assert_eq!(host.calls()[1]["call"], "write_in_place");
    assert_eq!(host.read("/proc/sys/kernel/panic_on_oops"), "1\n");
    // USE_KDUMP=0: nothing to do.
    host.edit("/etc/default/kdump-tools", "USE_KDUMP=1", "USE_KDUMP=0");
    assert_eq!(dry_plan(&host)["action"], "skip");
    // An initrd that was never built is named with the fix.
    let host = Host::fixture("debian-kdump-tools");
    fs::remove_file(host.root().join("var/lib/kdump/initrd.img-6.1.0-28-amd64")).unwrap();
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 5);
    assert!(
        out.stderr
            .contains("/etc/kernel/postinst.d/kdump-tools 6.1.0-28-amd64"),
        "{}",
        out.stderr
    );
}

#[test]
fn test_no_kdump_configuration_at_all() {
    let host = Host::debian12();
    host.write("/sys/kernel/kexec_crash_size", "134217728\n");
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 6);
    assert!(
        out.stderr.contains("kdump is not configured"),
        "{}",
        out.stderr
    );
}
