//! Loads a kernel (for a kexec reboot, or as the crash kernel) — the one
//! implementation every command uses.
//!
//! [`prepare`] opens the kernel and initrds once and checks everything that
//! can be checked before a system call: the files are regular and not
//! empty, the kernel's format is one the running kernel can load, the
//! command line fits the new kernel's limit, kexec is not disabled, an
//! unsigned kernel is not offered to a locked-down kernel. [`load`] then
//! hands *the same open files* to `kexec_file_load` (so a kernel replaced
//! in between is never loaded unchecked, and IMA and signature checks see
//! the real files), and maps any errno to a message that says what to do.
//! Only where the file system call cannot serve (ENOSYS, a format the kernel
//! rejects and kexecctl cannot unwrap) is the load handed to `/sbin/kexec`,
//! with a warning saying why.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ExitCode, IoResultExt, Result};
use crate::facts::KexecState;
use crate::image::{self, Format};
use crate::plan::LoadPlan;
use crate::root::Root;
use crate::system::{Errno, KEXEC_FILE_DEBUG, KEXEC_FILE_ON_CRASH, Program, System, errno_name};

/// More initrds than any boot loader entry has: refused before a file is
/// opened (each stays open from the checks to the load).
pub const MAX_INITRDS: usize = 256;

/// Where kexec-tools' binary may be, for the fallback.
const KEXEC_TOOLS: &[&str] = &["/sbin/kexec", "/usr/sbin/kexec"];

/// How a load is (to be) done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "name")]
pub enum Method {
    /// `kexec_file_load`, directly.
    #[serde(rename = "kexec_file_load")]
    KexecFileLoad,
    /// `/sbin/kexec`, because of `reason`.
    #[serde(rename = "kexec-tools")]
    KexecTools { program: PathBuf, reason: String },
}

impl Method {
    pub fn name(&self) -> String {
        match self {
            Method::KexecFileLoad => "kexec_file_load".into(),
            Method::KexecTools { program, .. } => program.display().to_string(),
        }
    }
}

/// A load that passed the pre-flight checks, holding its open files.
#[derive(Debug)]
pub struct Prepared {
    pub load: LoadPlan,
    pub format: Format,
    kernel: File,
    initrds: Vec<File>,
    /// Host paths of the files, for handing to kexec-tools.
    kernel_host: PathBuf,
    initrd_hosts: Vec<PathBuf>,
    /// arm64 `Image.gz`: decompress before loading.
    gunzip: bool,
    pub method: Method,
    /// kexec-tools of the system, for the fallback (a path inside the root).
    kexec_tools: Option<PathBuf>,
    /// The running kernel is locked down (for explaining EPERM).
    locked_down: bool,
    /// Programs of the tree run chrooted into this host directory.
    chroot: Option<PathBuf>,
}

/// Opens `path` (inside the root) and checks it is a non-empty regular file.
fn open_regular(root: &Root, path: &Path, what: &str) -> Result<(File, PathBuf)> {
    let resolved = root.resolve(path).at_path(path)?;
    // Name the link's target too: a dangling /vmlinuz is a missing kernel.
    let what = if resolved.inside != Path::new("/").join(path) {
        format!("{what} (a link to {})", resolved.inside.display())
    } else {
        what.to_string()
    };
    let file = File::open(&resolved.host)
        .map_err(|e| Error::io(path, &e).with_message(|m| format!("{what}: {m}")))?;
    let meta = file.metadata().at_path(path)?;
    if !meta.is_file() {
        return Err(Error::not_installed(format!("{what} is not a regular file")).in_file(path));
    }
    if meta.len() == 0 {
        return Err(Error::not_installed(format!("{what} is empty")).in_file(path));
    }
    Ok((file, resolved.host))
}

fn read_head(file: &File, shown: &Path) -> Result<Vec<u8>> {
    let mut head = vec![0u8; image::HEADER_LEN];
    let mut filled = 0;
    while filled < head.len() {
        match file.read_at(&mut head[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(shown, &e)),
        }
    }
    head.truncate(filled);
    Ok(head)
}

fn kexec_tools(root: &Root) -> Option<PathBuf> {
    KEXEC_TOOLS
        .iter()
        .find(|p| root.host(p).is_file())
        .map(PathBuf::from)
}

/// Opens and checks a load before any system call. `arch` is the running
/// kernel's architecture (`std::env::consts::ARCH` names); `chroot` is set
/// when the root is a tree whose programs must run chrooted into it.
pub fn prepare(
    root: &Root,
    load: &LoadPlan,
    state: &KexecState,
    arch: &str,
    chroot: Option<PathBuf>,
) -> Result<Prepared> {
    if load.initrds.len() > MAX_INITRDS {
        return Err(Error::not_configured(format!(
            "{} initrds are listed; kexecctl loads at most {MAX_INITRDS}",
            load.initrds.len()
        ))
        .in_file(&load.kernel));
    }
    let (kernel, kernel_host) = open_regular(root, &load.kernel, "the kernel image")?;
    let mut initrds = Vec::new();
    let mut initrd_hosts = Vec::new();
    for path in &load.initrds {
        let (file, host) = open_regular(root, path, "the initrd")?;
        initrds.push(file);
        initrd_hosts.push(host);
    }
    let head = read_head(&kernel, &load.kernel)?;
    let mut format = image::inspect(&head);
    let mut gunzip = false;
    let delegate = |reason: String| -> Result<Method> {
        match kexec_tools(root) {
            Some(program) => Ok(Method::KexecTools { program, reason }),
            None => Err(Error::not_installed(format!(
                "{reason}, and /sbin/kexec (kexec-tools) is not installed to load it"
            ))
            .in_file(&load.kernel)),
        }
    };
    let mut method = Method::KexecFileLoad;
    match (arch, &format) {
        ("x86_64", f) if f.is_x86_64_loadable() => {}
        ("x86_64", Format::BzImage { .. }) | ("x86_64", Format::Elf) => {
            method = delegate(format!(
                "kexec_file_load cannot boot this image ({}; it needs a 64-bit bzImage, boot protocol 2.12+)",
                format.describe()
            ))?;
        }
        ("aarch64", Format::Arm64Image { .. }) => {}
        ("aarch64", Format::Gzip) => {
            let inner = gunzip_head(&kernel, &load.kernel)?;
            format = image::inspect(&inner);
            if !matches!(format, Format::Arm64Image { .. }) {
                return Err(Error::not_installed(format!(
                    "not an arm64 kernel: gzip data holding {}",
                    format.describe()
                ))
                .in_file(&load.kernel));
            }
            gunzip = true;
        }
        ("aarch64", Format::Zboot | Format::Pe { .. }) => {
            method = delegate(format!(
                "kexecctl cannot unwrap this image ({})",
                format.describe()
            ))?;
        }
        ("x86_64" | "aarch64", _) => {
            return Err(Error::not_installed(format!(
                "not a kernel image this system can boot (found {})",
                format.describe()
            ))
            .in_file(&load.kernel));
        }
        // Other architectures: the kernel's own loaders decide.
        _ => {}
    }
    if let Some(max) = format.max_cmdline() {
        if load.cmdline.len() > max {
            return Err(Error::not_configured(format!(
                "the command line is {} bytes; this kernel accepts at most {max} through kexec \
                 (its cmdline_size minus the 31 bytes kexec reserves)",
                load.cmdline.len()
            ))
            .in_file(&load.kernel));
        }
    }
    if let Some((at, c)) = control_character(&load.cmdline) {
        return Err(Error::not_configured(format!(
            "the command line contains a control character ({}) at byte {at}: a value with a \
             control character would end up inside a kernel parameter",
            char_name(c)
        )));
    }
    if state.load_disabled {
        return Err(Error::new(
            ExitCode::Privilege,
            "kexec is disabled until the next boot (/proc/sys/kernel/kexec_load_disabled is 1)",
        ));
    }
    if state.locked_down() && format.signed() == Some(false) && method == Method::KexecFileLoad {
        return Err(Error::new(
            ExitCode::Privilege,
            format!(
                "the kernel is locked down ({}) and accepts only signed kernels, but this image \
                 has no signature; load a kernel signed by a trusted key (distribution kernel, or \
                 your key enrolled with mokutil)",
                state.lockdown.as_deref().unwrap_or("?")
            ),
        )
        .in_file(&load.kernel));
    }
    if let Some(reason) = &load.kexec_tools_reason {
        if method == Method::KexecFileLoad {
            method = delegate(reason.clone())?;
        }
    }
    Ok(Prepared {
        load: load.clone(),
        format,
        kernel,
        initrds,
        kernel_host,
        initrd_hosts,
        gunzip,
        method,
        kexec_tools: kexec_tools(root),
        locked_down: state.locked_down(),
        chroot,
    })
}

/// The first control character of a command line that would end up
/// inside a parameter (a NUL, an escape, ...). The kernel splits parameters
/// on tabs, newlines, vertical tabs, form feeds and carriage returns as on
/// spaces (lib/cmdline.c, `isspace`), and kdumpctl and Debian's script pass
/// such characters of APPEND on: they stay separators here too.
pub fn control_character(cmdline: &str) -> Option<(usize, char)> {
    cmdline
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
}

/// `U+000A (newline)` for messages.
pub fn char_name(c: char) -> String {
    let name = match c {
        '\n' => " (newline)",
        '\r' => " (carriage return)",
        '\t' => " (tab)",
        '\0' => " (NUL)",
        '\x1b' => " (escape)",
        _ => "",
    };
    format!("U+{:04X}{name}", c as u32)
}

fn gunzip_head(file: &File, shown: &Path) -> Result<Vec<u8>> {
    let mut head = Vec::new();
    flate2::read::GzDecoder::new(Reader { file, pos: 0 })
        .take(image::HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::not_installed(format!("corrupt gzip data: {e}")).in_file(shown))?;
    Ok(head)
}

/// Reads an open file from its start without moving its own position.
struct Reader<'f> {
    file: &'f File,
    pos: u64,
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// An anonymous in-memory file holding `data` (for an unwrapped kernel or
/// concatenated initrds). `inheritable` keeps it open across exec, for
/// handing to `/sbin/kexec` as `/proc/self/fd/N`.
fn memfd(name: &str, data: &mut dyn Read, inheritable: bool) -> Result<File> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let flags = if inheritable {
        MFdFlags::empty()
    } else {
        MFdFlags::MFD_CLOEXEC
    };
    let fd: OwnedFd = memfd_create(name, flags)
        .map_err(|e| Error::failure(format!("memfd_create: {}", e.desc())))?;
    let mut file = File::from(fd);
    std::io::copy(data, &mut file).map_err(|e| Error::failure(format!("staging {name}: {e}")))?;
    file.flush().ok();
    file.rewind().ok();
    Ok(file)
}

/// The initrd to hand over: the one file, or the files concatenated.
fn concatenated_initrds(prepared: &Prepared, inheritable: bool) -> Result<Option<File>> {
    match prepared.initrds.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.try_clone().at_path(&prepared.load.initrds[0])?)),
        files => {
            let mut chain: Box<dyn Read> = Box::new(std::io::empty());
            for file in files {
                chain = Box::new(chain.chain(Reader { file, pos: 0 }));
            }
            memfd("kexecctl-initrd", &mut chain, inheritable).map(Some)
        }
    }
}

/// Loads a prepared image. Returns how it was loaded.
pub fn load(prepared: &Prepared, system: &dyn System, arch: &str) -> Result<Method> {
    if let Method::KexecTools { program, reason } = &prepared.method {
        log::warn!("{reason}: loading with {} instead", program.display());
        return load_with_kexec_tools(prepared, program, system).map(|()| prepared.method.clone());
    }
    let load = &prepared.load;
    let kernel = if prepared.gunzip {
        memfd(
            "kexecctl-kernel",
            &mut flate2::read::GzDecoder::new(Reader {
                file: &prepared.kernel,
                pos: 0,
            }),
            false,
        )?
    } else {
        prepared.kernel.try_clone().at_path(&load.kernel)?
    };
    let initrd = concatenated_initrds(prepared, false)?;
    let cmdline = CString::new(load.cmdline.clone())
        .map_err(|_| Error::not_configured("the command line contains a NUL byte"))?;
    let mut flags = 0;
    if load.crash {
        flags |= KEXEC_FILE_ON_CRASH;
    }
    if load.debug {
        flags |= KEXEC_FILE_DEBUG;
    }
    let result = system.kexec_file_load(
        kernel.as_fd(),
        initrd.as_ref().map(|f| f.as_fd()),
        &cmdline,
        flags,
    );
    let errno = match result {
        Ok(()) => return Ok(Method::KexecFileLoad),
        Err(e) => e,
    };
    // The two cases the file syscall cannot serve: no such syscall, or an
    // image format it rejects (arm64 reports a bad Image as EINVAL).
    let unservable = errno == Errno::ENOSYS
        || errno == Errno::ENOEXEC
        || (errno == Errno::EINVAL && arch == "aarch64");
    if unservable {
        if let Some(program) = prepared.kexec_tools.clone() {
            let reason = format!(
                "kexec_file_load failed with {} ({})",
                errno_name(errno),
                errno.desc()
            );
            log::warn!("{reason}: loading with {} instead", program.display());
            load_with_kexec_tools(prepared, &program, system)?;
            return Ok(Method::KexecTools { program, reason });
        }
    }
    Err(explain(errno, load, prepared.locked_down))
}

/// Hands the load to kexec-tools: the system's own `/sbin/kexec` (chrooted
/// into a tree given with --root, never the tree's program on the host).
fn load_with_kexec_tools(prepared: &Prepared, program: &Path, system: &dyn System) -> Result<()> {
    let load = &prepared.load;
    // Inside a chroot the tree's paths are the ones kexec sees.
    let (kernel, initrd_paths): (PathBuf, Vec<PathBuf>) = match &prepared.chroot {
        Some(_) => (load.kernel.clone(), load.initrds.clone()),
        None => (prepared.kernel_host.clone(), prepared.initrd_hosts.clone()),
    };
    let mut args: Vec<OsString> = load.kexec_tools_args.iter().map(OsString::from).collect();
    args.push(if load.crash { "-p" } else { "-l" }.into());
    // One initrd: the file itself; several: their concatenation, handed
    // over as an inherited memfd.
    let mut staged = None;
    match initrd_paths.as_slice() {
        [] => {}
        [one] => args.push(format!("--initrd={}", one.display()).into()),
        _ if prepared.chroot.is_some() => {
            return Err(Error::not_installed(
                "several initrds cannot be handed to the kexec-tools of a tree given with --root",
            ));
        }
        _ => {
            use std::os::fd::AsRawFd;
            let file = concatenated_initrds(prepared, true)?.expect("several initrds");
            args.push(format!("--initrd=/proc/self/fd/{}", file.as_raw_fd()).into());
            staged = Some(file);
        }
    }
    args.push(format!("--command-line={}", load.cmdline).into());
    args.push(kernel.into());
    let mut call = Program::new(program, &[]);
    call.args = args;
    call.chroot = prepared.chroot.clone();
    // kexec-tools runs on the shutdown path too: bounded.
    call.timeout_secs = Some(120);
    let status = system
        .run(&call)
        .map_err(|e| Error::failure(format!("running {}: {e}", program.display())))?;
    if status != 0 {
        return Err(Error::failure(format!(
            "{} {} failed with exit status {status}",
            program.display(),
            if load.crash { "-p" } else { "-l" }
        )));
    }
    drop(staged);
    Ok(())
}

/// The message and exit code for a failed `kexec_file_load`.
pub fn explain(errno: Errno, load: &LoadPlan, locked_down: bool) -> Error {
    let kernel = load.kernel.display();
    let code = errno_name(errno);
    let (exit, text) = match errno {
        Errno::EPERM if locked_down => (
            ExitCode::Privilege,
            format!(
                "the locked-down kernel refused {kernel} ({code}): its signature is not trusted \
                 by this kernel (keys come from the kernel build, and from the UEFI db or MOK \
                 only under Secure Boot); boot with Secure Boot and a trusted signer, or without \
                 lockdown"
            ),
        ),
        Errno::EPERM => (
            ExitCode::Privilege,
            format!(
                "the kernel refused to load {kernel} ({code}): this needs root with CAP_SYS_BOOT \
                 outside a container; otherwise kexec_load_disabled is set, the kexec load limit \
                 is used up, or lockdown forbids this image"
            ),
        ),
        Errno::EACCES => (
            ExitCode::Privilege,
            format!(
                "the kernel refused to read {kernel} or its initrd ({code}): an IMA appraisal \
                 policy requires a valid security.ima signature on them"
            ),
        ),
        Errno::EKEYREJECTED
        | Errno::ENOKEY
        | Errno::ENODATA
        | Errno::EBADMSG
        | Errno::EMSGSIZE
        | Errno::ENOPKG => {
            let why = match errno {
                Errno::EKEYREJECTED => "its signature was rejected",
                Errno::ENOKEY => "it is signed by a key this kernel does not trust",
                Errno::ENODATA => "it is not signed",
                _ => "its signature is malformed or of an unsupported kind",
            };
            (
                ExitCode::Privilege,
                format!(
                    "signature verification of {kernel} failed ({code}): {why}; with Secure Boot \
                     or lockdown only kernels signed by a trusted key (built-in, UEFI db, MOK) \
                     can be loaded — use the distribution's signed kernel or enrol your key \
                     with mokutil"
                ),
            )
        }
        Errno::ENOEXEC => (
            ExitCode::NotInstalled,
            format!("the running kernel cannot load {kernel}: unsupported image format ({code})"),
        ),
        Errno::EINVAL => (
            ExitCode::Failure,
            format!(
                "the kernel rejected the load of {kernel} as invalid ({code}): the command line \
                 may be too long for the new kernel, or the image cannot be booted by kexec"
            ),
        ),
        Errno::EBUSY => (
            ExitCode::Failure,
            format!("another kexec load or reboot is in progress ({code}); try again"),
        ),
        Errno::ENOMEM => (
            ExitCode::Failure,
            format!("not enough memory to stage {kernel} and its initrd ({code})"),
        ),
        Errno::EADDRNOTAVAIL if load.crash => (
            ExitCode::Failure,
            format!(
                "the crash kernel reservation is too small for {kernel} and its initrd ({code}); \
                 raise crashkernel= on the kernel command line and reboot"
            ),
        ),
        Errno::EADDRNOTAVAIL => (
            ExitCode::Failure,
            format!("no free memory region to place {kernel} ({code})"),
        ),
        Errno::ETXTBSY => (
            ExitCode::Failure,
            format!(
                "{kernel} or its initrd is open for writing by another process ({code}), \
                 probably being updated; try again when that is done"
            ),
        ),
        Errno::ENOSYS => (
            ExitCode::NotInstalled,
            format!(
                "this kernel cannot kexec_file_load ({code}: CONFIG_KEXEC_FILE is off or the \
                 platform does not support kexec), and /sbin/kexec is not installed to fall back on"
            ),
        ),
        Errno::EFBIG => (
            ExitCode::NotInstalled,
            format!("{kernel} or its initrd is larger than the 4 GiB kexec accepts ({code})"),
        ),
        other => (
            ExitCode::Failure,
            format!(
                "kexec_file_load of {kernel} failed: {} ({})",
                errno_name(other),
                other.desc()
            ),
        ),
    };
    Error::new(exit, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::{Call, Recorder};
    use std::fs;

    fn tree() -> (tempfile::TempDir, Root) {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("boot")).unwrap();
        fs::write(tmp.path().join("boot/vmlinuz"), image::fake_bzimage(8192)).unwrap();
        fs::write(tmp.path().join("boot/initrd.img"), b"INITRD").unwrap();
        fs::write(tmp.path().join("boot/ucode.img"), b"UCODE").unwrap();
        fs::write(tmp.path().join("boot/garbage"), b"not a kernel at all").unwrap();
        let root = Root::new(tmp.path());
        (tmp, root)
    }

    fn spec(kernel: &str, initrds: &[&str], cmdline: &str) -> LoadPlan {
        LoadPlan::new(kernel, initrds.iter().map(PathBuf::from).collect(), cmdline)
    }

    #[test]
    fn test_loads_with_original_fds_and_nul_terminated_cmdline() {
        let (_tmp, root) = tree();
        let s = spec("/boot/vmlinuz", &["/boot/initrd.img"], "root=/dev/vda1 ro");
        let checked = prepare(&root, &s, &KexecState::default(), "x86_64", None).unwrap();
        let sys = Recorder::new();
        assert_eq!(
            load(&checked, &sys, "x86_64").unwrap(),
            Method::KexecFileLoad
        );
        let calls = sys.calls.borrow();
        let Call::FileLoad {
            kernel,
            initrd,
            cmdline,
            flags,
            ..
        } = &calls[0]
        else {
            panic!("{calls:?}");
        };
        assert!(kernel.ends_with("/boot/vmlinuz"), "{kernel}");
        assert!(initrd.as_deref().unwrap().ends_with("/boot/initrd.img"));
        assert_eq!(cmdline, "root=/dev/vda1 ro");
        assert_eq!(*flags, 0);
    }

    #[test]
    fn test_no_initrd_sets_no_initramfs_and_crash_flag() {
        let (_tmp, root) = tree();
        let mut s = spec("/boot/vmlinuz", &[], "x");
        s.crash = true;
        let checked = prepare(&root, &s, &KexecState::default(), "x86_64", None).unwrap();
        let sys = Recorder::new();
        load(&checked, &sys, "x86_64").unwrap();
        let Call::FileLoad { flags, initrd, .. } = &sys.calls.borrow()[0] else {
            panic!()
        };
        assert_eq!(
            *flags,
            crate::system::KEXEC_FILE_NO_INITRAMFS | KEXEC_FILE_ON_CRASH
        );
        assert_eq!(*initrd, None);
    }

    #[test]
    fn test_several_initrds_are_concatenated() {
        let (_tmp, root) = tree();
        let s = spec(
            "/boot/vmlinuz",
            &["/boot/ucode.img", "/boot/initrd.img"],
            "x",
        );
        let checked = prepare(&root, &s, &KexecState::default(), "x86_64", None).unwrap();
        let sys = Recorder::new();
        load(&checked, &sys, "x86_64").unwrap();
        let Call::FileLoad {
            initrd,
            initrd_size,
            ..
        } = &sys.calls.borrow()[0]
        else {
            panic!()
        };
        assert!(
            initrd
                .as_deref()
                .unwrap()
                .starts_with("/memfd:kexecctl-initrd")
        );
        assert_eq!(*initrd_size, Some(("UCODE".len() + "INITRD".len()) as u64));
    }

    #[test]
    fn test_the_checked_file_is_the_loaded_file() {
        let (tmp, root) = tree();
        let s = spec("/boot/vmlinuz", &[], "x");
        let prepared = prepare(&root, &s, &KexecState::default(), "x86_64", None).unwrap();
        // The kernel is replaced (a package upgrade) between check and load.
        let new = tmp.path().join("boot/vmlinuz.new");
        fs::write(&new, b"not a kernel, and another size").unwrap();
        fs::rename(&new, tmp.path().join("boot/vmlinuz")).unwrap();
        let sys = Recorder::new();
        load(&prepared, &sys, "x86_64").unwrap();
        let Call::FileLoad { kernel_size, .. } = &sys.calls.borrow()[0] else {
            panic!()
        };
        assert_eq!(*kernel_size, Some(8192), "the file that was checked");
    }

    #[test]
    fn test_command_line_control_characters_and_initrd_count() {
        let (_tmp, root) = tree();
        let st = KexecState::default();
        let e = prepare(
            &root,
            &spec("/boot/vmlinuz", &[], "ro\x1bquiet"),
            &st,
            "x86_64",
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, ExitCode::NotConfigured);
        assert!(e.message.contains("(U+001B (escape)) at byte 2"), "{e}");
        // The kernel's own separators are separators.
        let separators = spec("/boot/vmlinuz", &[], "ro\nquiet\tx");
        assert!(prepare(&root, &separators, &st, "x86_64", None).is_ok());
        let many: Vec<&str> = vec!["/boot/initrd.img"; MAX_INITRDS + 1];
        let e = prepare(
            &root,
            &spec("/boot/vmlinuz", &many, "ro"),
            &st,
            "x86_64",
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("at most 256"), "{e}");
    }

    #[test]
    fn test_prepare_errors() {
        let (_tmp, root) = tree();
        let st = KexecState::default();
        let e = prepare(&root, &spec("/boot/missing", &[], ""), &st, "x86_64", None).unwrap_err();
        assert_eq!(e.code, ExitCode::NotInstalled);
        assert_eq!(
            e.to_string(),
            "/boot/missing: the kernel image: no such file or directory"
        );
        let e = prepare(&root, &spec("/boot", &[], ""), &st, "x86_64", None).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = prepare(&root, &spec("/boot/garbage", &[], ""), &st, "x86_64", None).unwrap_err();
        assert_eq!(e.code, ExitCode::NotInstalled);
        assert!(e.to_string().contains("not a kernel image"), "{e}");
        let e = prepare(
            &root,
            &spec("/boot/vmlinuz", &["/boot/nope"], ""),
            &st,
            "x86_64",
            None,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("/boot/nope: the initrd"), "{e}");
        let long = "x".repeat(2048 - 30);
        let e = prepare(
            &root,
            &spec("/boot/vmlinuz", &[], &long),
            &st,
            "x86_64",
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, ExitCode::NotConfigured);
        assert!(e.to_string().contains("at most 2017"), "{e}");
        let ok = "x".repeat(2017);
        assert!(prepare(&root, &spec("/boot/vmlinuz", &[], &ok), &st, "x86_64", None).is_ok());
        let disabled = KexecState {
            load_disabled: true,
            ..Default::default()
        };
        let e = prepare(
            &root,
            &spec("/boot/vmlinuz", &[], ""),
            &disabled,
            "x86_64",
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, ExitCode::Privilege);
        let locked = KexecState {
            lockdown: Some("integrity".into()),
            ..Default::default()
        };
        let e = prepare(
            &root,
            &spec("/boot/vmlinuz", &[], ""),
            &locked,
            "x86_64",
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no signature"), "{e}");
    }

    #[test]
    fn test_arm64_gzip_is_unwrapped() {
        let (tmp, root) = tree();
        let mut image = vec![0u8; 8192];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&image).unwrap();
        fs::write(tmp.path().join("boot/Image.gz"), gz.finish().unwrap()).unwrap();
        let checked = prepare(
            &root,
            &spec("/boot/Image.gz", &[], "x"),
            &KexecState::default(),
            "aarch64",
            None,
        )
        .unwrap();
        let sys = Recorder::new();
        load(&checked, &sys, "aarch64").unwrap();
        let Call::FileLoad { kernel, .. } = &sys.calls.borrow()[0] else {
            panic!()
        };
        assert!(kernel.starts_with("/memfd:kexecctl-kernel"), "{kernel}");
    }

    #[test]
    fn test_enosys_falls_back_to_kexec_tools_and_says_why() {
        let (tmp, root) = tree();
        fs::create_dir_all(tmp.path().join("sbin")).unwrap();
        fs::write(tmp.path().join("sbin/kexec"), b"").unwrap();
        let s = spec("/boot/vmlinuz", &["/boot/initrd.img"], "root=/dev/vda1");
        let checked = prepare(&root, &s, &KexecState::default(), "x86_64", None).unwrap();
        let sys = Recorder::failing("file_load", Errno::ENOSYS);
        let method = load(&checked, &sys, "x86_64").unwrap();
        let Method::KexecTools { program, reason } = method else {
            panic!()
        };
        assert_eq!(program, PathBuf::from("/sbin/kexec"));
        assert!(reason.contains("ENOSYS"), "{reason}");
        let calls = sys.calls.borrow();
        let Call::Run { args, .. } = &calls[1] else {
            panic!("{calls:?}")
        };
        assert_eq!(args[0], "-l");
        assert!(
            args[1].starts_with("--initrd=/") && args[1].ends_with("/boot/initrd.img"),
            "{args:?}"
        );
        assert_eq!(args[2], "--command-line=root=/dev/vda1");
        assert!(args[3].ends_with("/boot/vmlinuz"));
        // An ELF vmlinux on x86_64 goes to kexec-tools from the start.
        fs::write(tmp.path().join("boot/vmlinux"), b"\x7fELF\x02\x01\x01").unwrap();
        let checked = prepare(
            &root,
            &spec("/boot/vmlinux", &[], "x"),
            &KexecState::default(),
            "x86_64",
            None,
        )
        .unwrap();
        assert!(matches!(checked.method, Method::KexecTools { .. }));
    }

    #[test]
    fn test_errno_mapping_through_the_recorder() {
        let (_tmp, root) = tree();
        let s = spec("/boot/vmlinuz", &[], "x");
        let checked = prepare(&root, &s, &KexecState::default(), "x86_64", None).unwrap();
        let cases = [
            (Errno::EPERM, ExitCode::Privilege, "CAP_SYS_BOOT"),
            (
                Errno::EKEYREJECTED,
                ExitCode::Privilege,
                "signature verification",
            ),
            (Errno::ENOKEY, ExitCode::Privilege, "does not trust"),
            (Errno::ENODATA, ExitCode::Privilege, "not signed"),
            (Errno::EBADMSG, ExitCode::Privilege, "malformed"),
            (Errno::EINVAL, ExitCode::Failure, "command line"),
            (Errno::EBUSY, ExitCode::Failure, "try again"),
            (Errno::ENOMEM, ExitCode::Failure, "memory"),
            (
                Errno::EADDRNOTAVAIL,
                ExitCode::Failure,
                "no free memory region",
            ),
            (Errno::ETXTBSY, ExitCode::Failure, "open for writing"),
            (Errno::EACCES, ExitCode::Privilege, "IMA"),
        ];
        for (errno, exit, text) in cases {
            let sys = Recorder::failing("file_load", errno);
            let e = load(&checked, &sys, "x86_64").unwrap_err();
            assert_eq!(e.code, exit, "{errno:?}");
            assert!(e.message.contains(text), "{errno:?}: {}", e.message);
            assert!(e.message.contains(errno_name(errno)), "{}", e.message);
        }
        // No /sbin/kexec in the tree: ENOSYS cannot fall back.
        let sys = Recorder::failing("file_load", Errno::ENOSYS);
        let e = load(&checked, &sys, "x86_64").unwrap_err();
        assert_eq!(e.code, ExitCode::NotInstalled);
        assert!(e.message.contains("CONFIG_KEXEC_FILE"), "{}", e.message);
        let mut crash = s.clone();
        crash.crash = true;
        assert!(
            explain(Errno::EADDRNOTAVAIL, &crash, false)
                .message
                .contains("crashkernel=")
        );
        assert!(
            explain(Errno::EPERM, &s, true)
                .message
                .contains("signature is not trusted")
        );
    }
}
