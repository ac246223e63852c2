//! Unit tests of the GRUB evaluator: the shapes grub-mkconfig and the
//! distributions write, and GRUB's own rules where they surprise. (The
//! differential test against GRUB itself is tests/cli/grub_oracle.rs.)

use std::collections::BTreeMap;

use super::*;
use crate::boot::grubenv;

#[derive(Default)]
pub struct FakeHost {
    pub files: BTreeMap<String, Vec<u8>>,
    pub bls: Vec<BlsEntry>,
    pub refuse_writes: Option<String>,
}

impl GrubHost for FakeHost {
    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        self.files.get(path).cloned()
    }
    fn stat(&self, path: &str) -> Option<FileStat> {
        if let Some(f) = self.files.get(path) {
            return Some(FileStat {
                dir: false,
                size: f.len() as u64,
                mtime: None,
            });
        }
        let dir = format!("{}/", path.trim_end_matches('/'));
        self.files
            .keys()
            .any(|k| k.starts_with(&dir))
            .then_some(FileStat {
                dir: true,
                size: 0,
                mtime: None,
            })
    }
    fn bls_entries(&self) -> Vec<BlsEntry> {
        self.bls.clone()
    }
    fn env_write_refusal(&self, _: &str) -> Option<String> {
        self.refuse_writes.clone()
    }
}

pub fn env_block(vars: &[(&str, &str)]) -> Vec<u8> {
    let changes: Vec<_> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect();
    grubenv::apply(&grubenv::create(), &changes).unwrap()
}

fn host(env: &[(&str, &str)]) -> FakeHost {
    let mut h = FakeHost::default();
    if !env.is_empty() {
        h.files.insert("/boot/grub/grubenv".into(), env_block(env));
    }
    h
}

fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![
        ("feature_menuentry_id".to_string(), "y".to_string()),
        ("prefix".to_string(), "/boot/grub".to_string()),
        ("grub_platform".to_string(), "efi".to_string()),
    ];
    v.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    v
}

fn run(cfg: &str, host: &FakeHost) -> Evaluation {
    evaluate(
        "/boot/grub/grub.cfg",
        cfg,
        host,
        vars(&[]),
        Flavor::Upstream,
    )
    .unwrap()
}

fn linux(e: &Evaluation) -> &GrubEntry {
    match &e.outcome {
        Outcome::Linux(entry) => entry,
        other => panic!("not Linux: {other:?}"),
    }
}

/// The shape of Debian 12's grub-mkconfig output (trimmed).
pub const DEBIAN: &str = r#"
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="DEFAULT"
fi
if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-UUID' {
	load_video
	insmod gzio
	if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
	insmod part_gpt
	search --no-floppy --fs-uuid --set=root UUID
	echo	'Loading Linux 6.1.0-13-amd64 ...'
	linux	/boot/vmlinuz-6.1.0-13-amd64 root=UUID=abc ro  quiet
	echo	'Loading initial ramdisk ...'
	initrd	/boot/initrd.img-6.1.0-13-amd64
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-UUID' {
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-13-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-13-amd64-advanced-UUID' {
		linux	/boot/vmlinuz-6.1.0-13-amd64 root=UUID=abc ro  quiet
		initrd	/boot/initrd.img-6.1.0-13-amd64
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-13-amd64 (recovery mode)' --class debian $menuentry_id_option 'gnulinux-6.1.0-13-amd64-recovery-UUID' {
		linux	/boot/vmlinuz-6.1.0-13-amd64 root=UUID=abc ro single
		initrd	/boot/initrd.img-6.1.0-13-amd64
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-10-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-10-amd64-advanced-UUID' {
		linux	/boot/vmlinuz-6.1.0-10-amd64 root=UUID=abc ro  quiet
		initrd	/boot/initrd.img-6.1.0-10-amd64
	}
}
### END /etc/grub.d/10_linux ###
menuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' {
	fwsetup
}
"#;

fn choose(default: &str, env: &[(&str, &str)]) -> GResult<GrubEntry> {
    let cfg = DEBIAN.replace("DEFAULT", default);
    default_entry(&cfg, &host(env), vars(&[])).map(|c| c.entry)
}

#[test]
fn test_numeric_default_counts_submenu_as_one() {
    assert_eq!(choose("0", &[]).unwrap().title, "Debian GNU/Linux");
    assert_eq!(
        choose("1", &[]).unwrap().title,
        "Debian GNU/Linux, with Linux 6.1.0-13-amd64"
    );
    let e = choose("2", &[]).unwrap_err();
    assert!(e.message.contains("UEFI Firmware Settings"), "{e:?}");
    assert!(e.message.contains("not a Linux entry"), "{e:?}");
    // Out of range falls back to the first entry, as GRUB does.
    assert_eq!(choose("7", &[]).unwrap().title, "Debian GNU/Linux");
}

#[test]
fn test_submenu_paths_ids_and_titles() {
    let e = choose("1>2", &[]).unwrap();
    assert_eq!(e.kernel.as_deref(), Some("/boot/vmlinuz-6.1.0-10-amd64"));
    assert_eq!(
        e.path,
        "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-10-amd64"
    );
    assert_eq!(
        e.chosen,
        "gnulinux-advanced-UUID>gnulinux-6.1.0-10-amd64-advanced-UUID"
    );
    let e = choose(
        "gnulinux-advanced-UUID>gnulinux-6.1.0-13-amd64-recovery-UUID",
        &[],
    )
    .unwrap();
    assert_eq!(e.args, ["root=UUID=abc", "ro", "single"]);
    let e = choose(
        "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-10-amd64",
        &[],
    )
    .unwrap();
    assert_eq!(
        e.id.as_deref(),
        Some("gnulinux-6.1.0-10-amd64-advanced-UUID")
    );
    assert_eq!(
        choose("gnulinux-simple-UUID", &[]).unwrap().title,
        "Debian GNU/Linux"
    );
}

#[test]
fn test_saved_entry_and_next_entry_from_grubenv() {
    let saved = [(
        "saved_entry",
        "gnulinux-advanced-UUID>gnulinux-6.1.0-10-amd64-advanced-UUID",
    )];
    let e = choose("${saved_entry}", &saved).unwrap();
    assert_eq!(e.kernel.as_deref(), Some("/boot/vmlinuz-6.1.0-10-amd64"));
    // grub-reboot's one-shot next_entry wins over saved_entry.
    let both = [saved[0], ("next_entry", "1>1")];
    let e = choose("${saved_entry}", &both).unwrap();
    assert_eq!(e.args, ["root=UUID=abc", "ro", "single"]);
    // saved_entry missing: entry 0.
    assert_eq!(
        choose("${saved_entry}", &[]).unwrap().title,
        "Debian GNU/Linux"
    );
}

#[test]
fn test_cmdline_like_grub_builds_it() {
    let cfg = r#"
set opts="a=1  b=2"
menuentry 'x' {
  linux /vmlinuz-x root=/dev/sda1 acpi_osi="Windows 2015" memmap=64K\$0x10000 $opts $vt_handoff q="it's"
  initrd /intel-ucode.img /initrd.img-x
}"#;
    let e = run(cfg, &host(&[]));
    let e = linux(&e);
    assert_eq!(e.initrds, ["/intel-ucode.img", "/initrd.img-x"]);
    assert_eq!(
        e.cmdline(),
        "BOOT_IMAGE=/vmlinuz-x root=/dev/sda1 \"acpi_osi=Windows 2015\" memmap=64K$0x10000 a=1 b=2 q=it\\'s"
    );
}

#[test]
fn test_linuxefi_and_device_prefix() {
    let cfg =
        "menuentry 'r' { linuxefi ($root)/vmlinuz-5.14 ro\n initrdefi ($root)/initramfs-5.14.img }";
    let e = run(cfg, &host(&[]));
    let e = linux(&e);
    assert_eq!(e.kernel.as_deref(), Some("/vmlinuz-5.14"));
    assert_eq!(e.initrds, ["/initramfs-5.14.img"]);
    assert_eq!(e.loader.as_deref(), Some("linuxefi"));
}

#[test]
fn test_menuentry_eq_escapes() {
    use select::{menuentry_eq, rest_after_gt};
    assert!(menuentry_eq("a>b", "a>>b"));
    assert!(menuentry_eq("a", "a>b"));
    assert!(!menuentry_eq("ab", "a>b"));
    assert_eq!(rest_after_gt("a>>b>c"), Some("c"));
}

/// A whole script parsed strictly (the first syntax error).
fn parse(text: &str) -> GResult<Vec<parse::Item>> {
    let lines = lex::config_lines(text);
    parse::parse_strict(&lines).map_err(|e| GrubError {
        line: Some(e.line),
        message: e.message,
    })
}

#[test]
fn test_syntax_errors_name_a_line() {
    let e = parse("menuentry 'x' {\n linux /v\n").unwrap_err();
    assert_eq!(e.line, Some(1));
    assert!(e.message.contains("without a matching"), "{e:?}");
    assert!(parse("set x='abc\n").is_err());
}

// -- functions (issue #10) ----------------------------------------------

/// Ubuntu's grub.cfg since 17.10: `gfxmode` sets `vt_handoff`.
const UBUNTU: &str = r#"
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi
if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
function initrdfail {
    if [ -n "${have_grubenv}" ]; then if [ -n "${partuuid}" ]; then
      if [ -z "${initrdfail}" ]; then
        set initrdfail=1
        if [ -n "${boot_once}" ]; then
          set prev_entry="${default}"
          save_env prev_entry
        fi
      fi
      save_env initrdfail
    fi; fi
}
function recordfail {
  set recordfail=1
  if [ -n "${have_grubenv}" ]; then if [ -z "${boot_once}" ]; then save_env recordfail; fi; fi
}
function gfxmode {
	set gfxpayload="${1}"
	if [ "${1}" = "keep" ]; then
		set vt_handoff=vt.handoff=7
	else
		set vt_handoff=
	fi
}
if [ "${recordfail}" != 1 ]; then
  if [ -e ${prefix}/gfxblacklist.txt ]; then
    set linux_gfx_mode=text
  else
    set linux_gfx_mode=keep
  fi
else
  set linux_gfx_mode=text
fi
export linux_gfx_mode
menuentry 'Ubuntu' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-U' {
	recordfail
	load_video
	gfxmode $linux_gfx_mode
	insmod gzio
	linux	/boot/vmlinuz-6.8.0-45-generic root=UUID=U ro  quiet splash $vt_handoff
	initrd	/boot/initrd.img-6.8.0-45-generic
}
submenu 'Advanced options for Ubuntu' $menuentry_id_option 'gnulinux-advanced-U' {
	menuentry 'Ubuntu, with Linux 6.8.0-45-generic' --class ubuntu $menuentry_id_option 'gnulinux-6.8.0-45-generic-advanced-U' {
		recordfail
		load_video
		gfxmode $linux_gfx_mode
		linux	/boot/vmlinuz-6.8.0-45-generic root=UUID=U ro  quiet splash $vt_handoff
		initrd	/boot/initrd.img-6.8.0-45-generic
	}
	menuentry 'Ubuntu, with Linux 6.8.0-45-generic (recovery mode)' --class ubuntu $menuentry_id_option 'gnulinux-6.8.0-45-generic-recovery-U' {
		recordfail
		load_video
		linux	/boot/vmlinuz-6.8.0-45-generic root=UUID=U ro recovery nomodeset dis_ucode_ldr
		initrd	/boot/initrd.img-6.8.0-45-generic
	}
}
"#;

#[test]
fn test_ubuntu_gfxmode_sets_vt_handoff() {
    let e = run(UBUNTU, &host(&[("x", "y")]));
    assert_eq!(
        linux(&e).args,
        ["root=UUID=U", "ro", "quiet", "splash", "vt.handoff=7"]
    );
    // recordfail is saved (have_grubenv set, not a one-shot boot).
    assert_eq!(
        e.writes,
        [GrubenvWrite {
            file: "/boot/grub/grubenv".into(),
            name: "recordfail".into(),
            value: Some("1".into()),
        }]
    );
    // After a failed boot GRUB picks text mode: no vt.handoff.
    let e = run(UBUNTU, &host(&[("recordfail", "1")]));
    assert_eq!(linux(&e).args.last().map(String::as_str), Some("splash"));
}

#[test]
fn test_submenu_sees_only_exported_variables() {
    // Inside a submenu `have_grubenv` and `boot_once` are not exported:
    // GRUB's recordfail writes nothing there (and savedefault would save
    // even a one-shot boot). linux_gfx_mode is exported.
    let e = run(UBUNTU, &host(&[("next_entry", "1>0")]));
    let entry = linux(&e);
    assert_eq!(entry.args.last().map(String::as_str), Some("vt.handoff=7"));
    assert_eq!(
        e.writes,
        [GrubenvWrite {
            file: "/boot/grub/grubenv".into(),
            name: "next_entry".into(),
            value: Some(String::new()),
        }]
    );
    let cfg = "set v=top\nexport e\nset e=exported\nsubmenu s { menuentry x { linux /k $v $e } }";
    let e = run(cfg, &host(&[]));
    assert_eq!(linux(&e).args, ["exported"]);
}

#[test]
fn test_savedefault_stores_chosen_as_grub_does() {
    let cfg = DEBIAN.replace("DEFAULT", "${saved_entry}").replace(
        "\t\tlinux\t/boot/vmlinuz-6.1.0-10",
        "\t\tsavedefault\n\t\tlinux\t/boot/vmlinuz-6.1.0-10",
    );
    let h = host(&[("saved_entry", "1>2")]);
    let e = run(&cfg, &h);
    assert_eq!(
        e.writes,
        [GrubenvWrite {
            file: "/boot/grub/grubenv".into(),
            name: "saved_entry".into(),
            value: Some("gnulinux-advanced-UUID>gnulinux-6.1.0-10-amd64-advanced-UUID".into()),
        }]
    );
    // A one-shot boot into the same entry: next_entry cleared; and because
    // boot_once is not exported into the submenu, savedefault saves too.
    let h = host(&[("next_entry", "1>2")]);
    let e = run(&cfg, &h);
    let names: Vec<_> = e.writes.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["next_entry", "saved_entry"]);
    // Where GRUB cannot write, nothing is recorded as written.
    let mut h = host(&[("next_entry", "1>2")]);
    h.refuse_writes = Some("diskfilter writes are not supported".into());
    let e = run(&cfg, &h);
    assert!(e.writes.is_empty());
    assert_eq!(e.refused.len(), 2);
}

#[test]
fn test_positional_parameters_and_return() {
    let cfg = r#"
function args { set n=$#; set all="$*"; set second=$2; return 3; set never=1 }
function f { args "a b" c; set status=$?; }
f
menuentry "T" extra { linux /k n=$n all=$all second=$second status=$status t=$1 x=$2 "$@" }
"#;
    // `function` bodies need a delimiter before `}`.
    let cfg = cfg.replace("set never=1 }", "set never=1; }");
    let e = run(&cfg, &host(&[]));
    assert_eq!(
        linux(&e).args,
        [
            "n=2", "all=a", "b", "c", "second=c", "status=3", "t=T", "x=extra", "T", "extra"
        ]
    );
}

#[test]
fn test_word_expansion_like_grub() {
    // An unquoted variable splits on blanks but sticks to adjacent text;
    // an empty one vanishes; an empty quoted one stays.
    let cfg = "set v=\" p  q \"\nset e=\nmenuentry x { linux /k a${v}b $e \"$e\" '' c\\ d }";
    let e = run(cfg, &host(&[]));
    assert_eq!(linux(&e).args, ["ap", "qb", "", "", "c d"]);
}

#[test]
fn test_loops_break_and_recursion_bound() {
    let cfg = r#"
set acc=
for x in 1 2 3 4; do if [ $x = 3 ]; then break; fi; set acc="${acc}$x"; done
set n=
while [ "$n" != xxx ]; do set n="${n}x"; done
menuentry x { linux /k $acc $n }
"#;
    let e = run(cfg, &host(&[]));
    assert_eq!(linux(&e).args, ["12", "xxx"]);
    let endless = "function f { f; }\nf\nmenuentry x { linux /k }";
    let err = evaluate("/g", endless, &host(&[]), vars(&[]), Flavor::Upstream).unwrap_err();
    assert!(err.message.contains("nested more than"), "{err:?}");
    let spin = "while true; do set a=1; done";
    let err = evaluate("/g", spin, &host(&[]), vars(&[]), Flavor::Upstream).unwrap_err();
    assert!(err.message.contains("steps"), "{err:?}");
}

#[test]
fn test_grub_test_command_semantics() {
    let cfg = r#"
set r=
if [ ]; then set r="${r}empty-true "; fi
if [ a = b -o c = c ]; then set r="${r}or "; fi
if [ ! a = a -o x ]; then set r="${r}not-binds-next "; fi
if [ 010 -eq 8 ]; then set r="${r}octal "; fi
if [ vmlinuz-2 -plt vmlinuz-11 ]; then set r="${r}plt "; fi
if unknown_command_xyz; then set r="${r}unknown-true "; fi
if ! false; then set r="${r}bang "; fi
menuentry x { linux /k $r }
"#;
    let e = run(cfg, &host(&[]));
    assert_eq!(
        linux(&e).args,
        [
            "empty-true",
            "or",
            "not-binds-next",
            "octal",
            "plt",
            "unknown-true",
            "bang"
        ]
    );
}

#[test]
fn test_default_numbers_like_grub_strtoul() {
    let cfg = |d: &str| {
        format!(
            "set default=\"{d}\"\nmenuentry '0' {{ linux /a }}\nmenuentry '1' {{ linux /b }}\nmenuentry '2nd' --id 2nd {{ linux /c }}\n"
        )
    };
    let kernel = |d: &str| {
        let e = run(&cfg(d), &host(&[]));
        linux(&e).kernel.clone().unwrap()
    };
    // `2nd` reads as the number 2 in upstream GRUB (digits first).
    assert_eq!(kernel("2nd"), "/c");
    assert_eq!(kernel("1 trailing"), "/b");
    assert_eq!(kernel("01"), "/b");
    assert_eq!(kernel("0x2"), "/c");
    assert_eq!(kernel("-1"), "/a", "not a number, no such title: entry 0");
    assert_eq!(kernel("4294967297"), "/b", "wrapped into an int");
}

#[test]
fn test_redhat_default_matching() {
    let cfg = "set default=\"DEFAULT\"\nmenuentry a --id 7abc { linux /a }\nmenuentry b --id 1 { linux /b }\nmenuentry c { linux /c }\n";
    let pick = |d: &str, flavor| {
        let e = evaluate(
            "/g",
            &cfg.replace("DEFAULT", d),
            &host(&[]),
            vars(&[]),
            flavor,
        )
        .unwrap();
        linux(&e).kernel.clone().unwrap()
    };
    assert_eq!(pick("7abc", Flavor::RedHat), "/a", "an id first");
    assert_eq!(
        pick("7abc", Flavor::Upstream),
        "/a",
        "7 is out of range: entry 0"
    );
    assert_eq!(pick("2", Flavor::RedHat), "/c");
    assert_eq!(pick("1", Flavor::RedHat), "/b", "the id `1`, entry 1");
    assert_eq!(pick("2 x", Flavor::RedHat), "/a", "trailing text: no match");
    assert_eq!(pick("2 x", Flavor::Upstream), "/c");
}

#[test]
fn test_not_linux_entries() {
    let cfg = "menuentry 'Windows Boot Manager (on /dev/sda1)' --class windows { insmod chain\n chainloader /EFI/Microsoft/Boot/bootmgfw.efi }\nmenuentry l { linux /k }";
    let e = run(cfg, &host(&[]));
    match e.outcome {
        Outcome::NotLinux { title, reason, .. } => {
            assert_eq!(title, "Windows Boot Manager (on /dev/sda1)");
            assert!(reason.contains("chainloader"), "{reason}");
        }
        o => panic!("{o:?}"),
    }
    let e = run("menuentry x { echo hi }", &host(&[]));
    assert!(matches!(e.outcome, Outcome::NotLinux { ref title, .. } if title == "x"));
}

#[test]
fn test_fallback_and_source() {
    let mut h = host(&[]);
    h.files.insert(
        "/boot/grub/custom.cfg".into(),
        b"menuentry custom { linux /custom }\n".to_vec(),
    );
    let cfg = "set fallback=1\nmenuentry broken { echo no kernel }\nsource ${config_directory}/custom.cfg\n";
    let e = run(cfg, &h);
    assert_eq!(linux(&e).kernel.as_deref(), Some("/custom"));
}

#[test]
fn test_syntax_error_skips_only_its_line() {
    let cfg = "set default=1\nset bad=$\nmenuentry a { linux /a }\nmenuentry b { linux /b }\n";
    let e = run(cfg, &host(&[]));
    assert_eq!(linux(&e).kernel.as_deref(), Some("/b"));
    assert!(
        e.messages.iter().any(|m| m.contains("line 2")),
        "{:?}",
        e.messages
    );
}

#[test]
fn test_bls_entries_through_blscfg() {
    let mut h = host(&[
        ("kernelopts", "root=/dev/mapper/rhel-root ro"),
        ("saved_entry", "mid-5.14.0-70.el9.x86_64"),
    ]);
    let mk = |id: &str, v: &str| {
        crate::boot::bls::parse_entry(
            id,
            &format!(
                "title RHEL ({v})\nversion {v}\nlinux /vmlinuz-{v}\ninitrd /initramfs-{v}.img\noptions $kernelopts\noptions ignored\n"
            ),
        )
        .unwrap()
    };
    h.bls = vec![
        mk("mid-5.14.0-362.el9.x86_64", "5.14.0-362.el9.x86_64"),
        mk("mid-5.14.0-70.el9.x86_64", "5.14.0-70.el9.x86_64"),
    ];
    let cfg = "load_env\nset default=\"${saved_entry}\"\nset save_default=true\nfunction savedefault { saved_entry=\"${chosen}\"; save_env saved_entry; }\nblscfg\n";
    let e = run(cfg, &h);
    let entry = linux(&e);
    assert!(entry.bls);
    assert_eq!(
        entry.kernel.as_deref(),
        Some("/vmlinuz-5.14.0-70.el9.x86_64")
    );
    assert_eq!(entry.initrds, ["/initramfs-5.14.0-70.el9.x86_64.img"]);
    assert_eq!(entry.args, ["root=/dev/mapper/rhel-root", "ro"]);
    assert_eq!(
        e.writes[0].value.as_deref(),
        Some("mid-5.14.0-70.el9.x86_64")
    );
}

#[test]
fn test_evaluation_always_ends() {
    // Deep nesting, huge values, self-sourcing files: bounded errors.
    let deep = format!("{}x{}", "if true; then ".repeat(500), "; fi".repeat(500));
    assert!(evaluate("/g", &deep, &host(&[]), vars(&[]), Flavor::Upstream).is_ok());
    let grow = "set a=xxxxxxxxxxxxxxxx\nwhile true; do set a=\"$a$a\"; done";
    let err = evaluate("/g", grow, &host(&[]), vars(&[]), Flavor::Upstream).unwrap_err();
    assert!(err.message.contains("longer than"), "{err:?}");
    let mut h = host(&[]);
    h.files.insert(
        "/boot/grub/grub.cfg".into(),
        b"source /boot/grub/grub.cfg\n".to_vec(),
    );
    let err = evaluate(
        "/boot/grub/grub.cfg",
        "source /boot/grub/grub.cfg",
        &h,
        vars(&[]),
        Flavor::Upstream,
    )
    .unwrap_err();
    assert!(err.message.contains("nested"), "{err:?}");
}

#[test]
fn test_deep_nesting_in_deep_calls_stays_on_the_stack() {
    // 100-deep `if`s in each of 64 nested function calls.
    let mut cfg = String::new();
    for f in 0..70 {
        let inner = if f == 69 {
            "set done=yes".to_string()
        } else {
            format!("f{}", f + 1)
        };
        cfg.push_str(&format!(
            "function f{f} {{ {}{}{}; }}\n",
            "if true; then ".repeat(95),
            inner,
            "; fi".repeat(95)
        ));
    }
    cfg.push_str("f0\nmenuentry x { linux /k $done }\n");
    let result = evaluate("/g", &cfg, &host(&[]), vars(&[]), Flavor::Upstream);
    assert!(result.is_err(), "the call depth bound applies");
    // Just below the bound: it runs, on a test thread's 2 MiB stack.
    let mut cfg = String::new();
    for f in 0..47 {
        let inner = if f == 46 {
            "set done=yes".to_string()
        } else {
            format!("f{}", f + 1)
        };
        cfg.push_str(&format!(
            "function f{f} {{ if true; then if true; then {inner}; fi; fi; }}\n"
        ));
    }
    cfg.push_str("f0\nmenuentry x { linux /k $done }\n");
    let e = run(&cfg, &host(&[]));
    assert_eq!(linux(&e).args, ["yes"]);
}

#[test]
fn test_data_heavy_loops_are_bounded() {
    use std::time::Instant;
    // A long fallback list of an entry that boots nothing, and shifting a
    // long argument list: each round costs steps by the data it copies.
    let grow = "set f=0\nset n=0\nwhile [ $n != xxxxxxxxxxxxxxxx ]; do set f=\"$f $f\"; set n=\"${n}x\"; done\n";
    let cfg = format!("{grow}set fallback=\"$f\"\nmenuentry empty {{ true }}\n");
    let started = Instant::now();
    let r = evaluate("/g", &cfg, &host(&[]), vars(&[]), Flavor::Upstream);
    assert!(r.is_err() || matches!(r.unwrap().outcome, Outcome::NotLinux { .. }));
    let cfg = format!(
        "{grow}function s {{ while shift; do true; done; }}\ns $f\nmenuentry x {{ linux /k }}\n"
    );
    let r = evaluate("/g", &cfg, &host(&[]), vars(&[]), Flavor::Upstream);
    assert!(r.is_err(), "the step bound stops it");
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}
