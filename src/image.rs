//! Recognises kernel image formats before anything is loaded.
//!
//! `kexec_file_load` accepts one format per architecture (x86_64: a 64-bit
//! bzImage; arm64: an uncompressed `Image`); anything else fails in the
//! kernel with a bare ENOEXEC or EINVAL. Reading the headers first turns that
//! into a message naming the file, lets kexecctl unwrap what it can (gzip on
//! arm64) and check the command line against the new kernel's own limit.

/// How many bytes of the image [`inspect`] needs.
pub const HEADER_LEN: usize = 4096;

/// x86 boot protocol: reserved by the kernel for `elfcorehdr=` (see
/// arch/x86/kernel/kexec-bzimage64.c, MAX_ELFCOREHDR_STR_LEN).
const X86_ELFCOREHDR_RESERVE: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// x86 bzImage with its setup header.
    BzImage {
        /// Boot protocol version, e.g. 0x020f.
        protocol: u16,
        /// `xloadflags` (protocol 2.12+).
        xloadflags: u16,
        /// The new kernel's command-line buffer size, NUL included.
        cmdline_size: u32,
        /// Has an Authenticode signature (PE certificate table).
        signed: bool,
    },
    /// arm64 `Image` (magic `ARM\x64` at 0x38).
    Arm64Image { signed: bool },
    /// gzip-compressed data (`Image.gz`, `vmlinuz` on arm64).
    Gzip,
    /// arm64 EFI zboot (`vmlinuz.efi`): a PE wrapping a compressed kernel.
    Zboot,
    /// Another PE image (an EFI application, a UKI).
    Pe { signed: bool },
    /// ELF (`vmlinux`; the format on ppc64le, s390x).
    Elf,
    /// Nothing kexecctl recognises.
    Unknown,
}

impl Format {
    pub fn describe(&self) -> String {
        match self {
            Format::BzImage {
                protocol,
                xloadflags,
                ..
            } => format!(
                "x86 bzImage, boot protocol {}.{:02}, xloadflags {xloadflags:#x}",
                protocol >> 8,
                protocol & 0xff
            ),
            Format::Arm64Image { .. } => "arm64 Image".into(),
            Format::Gzip => "gzip-compressed data".into(),
            Format::Zboot => "EFI zboot image".into(),
            Format::Pe { .. } => "PE/EFI image".into(),
            Format::Elf => "ELF image".into(),
            Format::Unknown => "unrecognised data".into(),
        }
    }

    pub fn signed(&self) -> Option<bool> {
        match self {
            Format::BzImage { signed, .. }
            | Format::Arm64Image { signed }
            | Format::Pe { signed } => Some(*signed),
            _ => None,
        }
    }

    /// The longest command line (without its NUL) the new kernel accepts
    /// through kexec_file_load, when the image says.
    pub fn max_cmdline(&self) -> Option<usize> {
        match self {
            Format::BzImage { cmdline_size, .. } => {
                Some((*cmdline_size as usize).saturating_sub(1 + X86_ELFCOREHDR_RESERVE))
            }
            _ => None,
        }
    }

    /// Whether the in-kernel x86_64 loader accepts it: protocol 2.12+ with
    /// XLF_KERNEL_64 and XLF_CAN_BE_LOADED_ABOVE_4G.
    pub fn is_x86_64_loadable(&self) -> bool {
        matches!(self, Format::BzImage { protocol, xloadflags, .. }
            if *protocol >= 0x020c && xloadflags & 0x3 == 0x3)
    }
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// Whether a PE image (MZ at 0) has a certificate table, i.e. an
/// Authenticode signature; `None` when it is not a readable PE.
fn pe_signed(b: &[u8]) -> Option<bool> {
    if b.get(0..2)? != b"MZ" {
        return None;
    }
    let pe = u32_at(b, 0x3c)? as usize;
    if b.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let optional = pe + 24;
    // Data directories start 96 (PE32) or 112 (PE32+) bytes into the
    // optional header; the certificate table is entry 4.
    let dirs = match u16_at(b, optional)? {
        0x10b => optional + 96,
        0x20b => optional + 112,
        _ => return None,
    };
    let count = u32_at(b, dirs - 4)?;
    if count <= 4 {
        return Some(false);
    }
    Some(u32_at(b, dirs + 4 * 8 + 4)? > 0)
}

/// Recognises the format from the first [`HEADER_LEN`] bytes of an image.
pub fn inspect(head: &[u8]) -> Format {
    if head.get(0x202..0x206) == Some(b"HdrS") {
        let protocol = u16_at(head, 0x206).unwrap_or(0);
        let xloadflags = if protocol >= 0x020c {
            u16_at(head, 0x236).unwrap_or(0)
        } else {
            0
        };
        let cmdline_size = if protocol >= 0x0206 {
            u32_at(head, 0x238).unwrap_or(255)
        } else {
            255
        };
        return Format::BzImage {
            protocol,
            xloadflags,
            cmdline_size,
            signed: pe_signed(head).unwrap_or(false),
        };
    }
    if head.get(0x38..0x3c) == Some(b"ARM\x64") {
        return Format::Arm64Image {
            signed: pe_signed(head).unwrap_or(false),
        };
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Format::Gzip;
    }
    if head.starts_with(b"\x7fELF") {
        return Format::Elf;
    }
    if head.starts_with(b"MZ") && head.get(4..8) == Some(b"zimg") {
        return Format::Zboot;
    }
    if let Some(signed) = pe_signed(head) {
        return Format::Pe { signed };
    }
    Format::Unknown
}

/// How many bytes of an x86 bzImage hold its real-mode setup, where the
/// version string lives (at most 64 setup sectors and the boot sector).
pub const SETUP_LEN: usize = 65 * 512;

/// The kernel release an x86 bzImage names in its setup header
/// (`kernel_version`, protocol 2.00+: the offset of "6.1.0-28-amd64
/// (debian-kernel@...) #1 SMP ..." minus 0x200), the string's first word
/// — what `uname -r` prints once that kernel runs. `None` for other
/// formats, or when `head` (the first [`SETUP_LEN`] bytes or more) does
/// not hold it.
pub fn bzimage_release(head: &[u8]) -> Option<String> {
    if head.get(0x202..0x206) != Some(b"HdrS") || u16_at(head, 0x206)? < 0x0200 {
        return None;
    }
    let offset = u16_at(head, 0x20e)? as usize;
    if offset == 0 {
        return None;
    }
    let text = head.get(offset + 0x200..)?;
    let end = text.iter().position(|&b| b == 0 || b == b' ')?;
    let release = std::str::from_utf8(&text[..end]).ok()?;
    (!release.is_empty() && release.chars().all(|c| c.is_ascii_graphic()))
        .then(|| release.to_string())
}

/// A minimal, valid x86_64 bzImage header for tests and fixtures:
/// `len` bytes, boot protocol 2.15, 64-bit and above-4G load flags,
/// `cmdline_size` 2048.
#[cfg(test)]
pub fn fake_bzimage(len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(HEADER_LEN)];
    b[0x1f1] = 1; // setup_sects
    b[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x236..0x238].copy_from_slice(&0x0003u16.to_le_bytes());
    b[0x238..0x23c].copy_from_slice(&2048u32.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bzimage_release() {
        let mut img = fake_bzimage(8192);
        assert_eq!(bzimage_release(&img), None, "no kernel_version");
        let text = b"6.12.57+deb13-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP\0";
        img[0x20e..0x210].copy_from_slice(&0x1000u16.to_le_bytes());
        img[0x1200..0x1200 + text.len()].copy_from_slice(text);
        assert_eq!(
            bzimage_release(&img).as_deref(),
            Some("6.12.57+deb13-cloud-amd64")
        );
        // Cut short, or not a bzImage: nothing.
        assert_eq!(bzimage_release(&img[..0x1205]), None);
        img[0x202] = b'X';
        assert_eq!(bzimage_release(&img), None);
    }

    #[test]
    fn test_bzimage_header() {
        let img = fake_bzimage(8192);
        let f = inspect(&img);
        assert!(f.is_x86_64_loadable(), "{f:?}");
        assert_eq!(f.max_cmdline(), Some(2048 - 31));
        assert_eq!(f.signed(), Some(false));
        let mut old = img.clone();
        old[0x206..0x208].copy_from_slice(&0x020au16.to_le_bytes());
        assert!(!inspect(&old).is_x86_64_loadable());
        assert_eq!(inspect(&old).max_cmdline(), Some(2048 - 31));
        // Before protocol 2.06 the buffer is a fixed 255 bytes.
        old[0x206..0x208].copy_from_slice(&0x0205u16.to_le_bytes());
        assert_eq!(inspect(&old).max_cmdline(), Some(255 - 31));
    }

    #[test]
    fn test_signed_pe_bzimage() {
        let mut img = fake_bzimage(8192);
        img[0..2].copy_from_slice(b"MZ");
        img[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        img[0x80..0x84].copy_from_slice(b"PE\0\0");
        let opt = 0x80 + 24;
        img[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        let dirs = opt + 112;
        img[dirs - 4..dirs].copy_from_slice(&16u32.to_le_bytes());
        img[dirs + 36..dirs + 40].copy_from_slice(&0x7a8u32.to_le_bytes());
        assert_eq!(inspect(&img).signed(), Some(true));
    }

    #[test]
    fn test_other_formats() {
        let mut arm = vec![0u8; 64];
        arm[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert_eq!(inspect(&arm), Format::Arm64Image { signed: false });
        assert_eq!(inspect(&[0x1f, 0x8b, 8, 0]), Format::Gzip);
        assert_eq!(inspect(b"\x7fELF\x02\x01"), Format::Elf);
        assert_eq!(inspect(b"MZ\0\0zimg"), Format::Zboot);
        assert_eq!(inspect(b"this is not a kernel"), Format::Unknown);
        assert_eq!(inspect(&[]), Format::Unknown);
    }
}
