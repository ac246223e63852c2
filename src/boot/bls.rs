//! Boot Loader Specification type 1 entries (`/boot/loader/entries/*.conf`),
//! as Fedora and RHEL 8+ write them and Red Hat's GRUB `blscfg` reads them
//! (derived from rhboot/grub2's `blscfg.c`; Debian's GRUB has no blscfg).
//!
//! Each file is `key value` lines, read as blscfg reads them: leading
//! blanks skipped, `#` lines ignored, the key ends at the first space (or,
//! without one, the first tab), the value keeps its trailing blanks, and a
//! line without a separator — an empty line too — ends the file. The
//! entry's id is its file name without `.conf`, which is what
//! `saved_entry` names. blscfg lists entries newest first by comparing the
//! file names as `name-version-release` with rpm's version comparison
//! (RHEL 9 and Fedora; RHEL 8 compares the `version` keys first, which
//! gives the same order unless they disagree with the file names).

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlsEntry {
    /// File name without `.conf`.
    pub id: String,
    /// The keys and values in file order (keys such as `initrd` and
    /// `options` can repeat).
    pub keys: Vec<(String, String)>,
}

impl BlsEntry {
    /// The first value of `key`.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in file order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn title(&self) -> Option<&str> {
        self.first("title")
    }

    pub fn linux(&self) -> Option<&str> {
        self.first("linux")
    }
}

/// Parses one entry file. `None` when it has no `linux` key (blscfg skips
/// such files too).
pub fn parse_entry(id: &str, text: &str) -> Option<BlsEntry> {
    let mut keys = Vec::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    for raw in body.split('\n') {
        let line: String = raw.chars().filter(|&c| c != '\r').collect();
        let line = line.trim_start_matches([' ', '\t']);
        if line.starts_with('#') {
            continue;
        }
        let sep = line.find(' ').or_else(|| line.find('\t'));
        let Some(sep) = sep.filter(|&s| s + 1 < line.len()) else {
            break;
        };
        let value = line[sep + 1..].trim_start_matches([' ', '\t']);
        keys.push((line[..sep].to_string(), value.to_string()));
    }
    let entry = BlsEntry {
        id: id.to_string(),
        keys,
    };
    entry.linux().is_some().then_some(entry)
}

/// Sorts entries the way blscfg lists them: newest first by file name
/// (`name-version-release`); entries comparing equal after the first are
/// dropped, as blscfg refuses them.
pub fn sort_entries(entries: &mut Vec<BlsEntry>) {
    entries.sort_by(|a, b| split_cmp(&b.id, &a.id));
    entries.dedup_by(|b, a| split_cmp(&a.id, &b.id) == Ordering::Equal);
}

/// blscfg's `split_package_string`: name, version, release.
fn split_nvr(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, release) = match s.rfind('-') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (name, version) = match rest.rfind('-') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    match version {
        Some(v) => (name, Some(v), release),
        None => (name, release, None),
    }
}

fn split_cmp(a: &str, b: &str) -> Ordering {
    let (na, va, ra) = split_nvr(a);
    let (nb, vb, rb) = split_nvr(b);
    vercmp(na, nb)
        .then_with(|| vercmp(va.unwrap_or(""), vb.unwrap_or("")))
        .then_with(|| vercmp(ra.unwrap_or(""), rb.unwrap_or("")))
}

/// rpm's version comparison as blscfg has it: alternating numeric and
/// alphabetic segments, numbers compared as numbers and newer than
/// letters, `~` older than anything, `+` newer than the end.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'+';
    while i < a.len() || j < b.len() {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'+') || cb == Some(b'+') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'+') {
                return Ordering::Greater;
            }
            if cb != Some(b'+') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            break;
        }
        let numeric = a[i].is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (si, sj) = (i, j);
        while i < a.len() && class(a[i]) {
            i += 1;
        }
        while j < b.len() && class(b[j]) {
            j += 1;
        }
        let (mut sa, mut sb) = (&a[si..i], &b[sj..j]);
        if sa.is_empty() {
            return Ordering::Less;
        }
        if sb.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_fedora_entry() {
        let text = "title Red Hat Enterprise Linux (5.14.0-362.8.1.el9_3.x86_64) 9.3 (Plow)\n\
            version 5.14.0-362.8.1.el9_3.x86_64\n\
            linux /vmlinuz-5.14.0-362.8.1.el9_3.x86_64\n\
            initrd /initramfs-5.14.0-362.8.1.el9_3.x86_64.img $tuned_initrd\n\
            options root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M\n\
            options $tuned_params\n\
            grub_users $grub_users\n\
            grub_arg --unrestricted\n\
            grub_class rhel\n";
        let e = parse_entry("0f3c-5.14.0-362.8.1.el9_3.x86_64", text).unwrap();
        assert_eq!(e.linux(), Some("/vmlinuz-5.14.0-362.8.1.el9_3.x86_64"));
        assert_eq!(
            e.all("initrd"),
            ["/initramfs-5.14.0-362.8.1.el9_3.x86_64.img $tuned_initrd"]
        );
        assert_eq!(e.all("options").len(), 2);
        assert_eq!(
            e.first("options"),
            Some("root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M")
        );
        assert!(parse_entry("x", "title no kernel\n").is_none());
    }

    #[test]
    fn test_parse_stops_like_blscfg() {
        // An empty line ends the file; a value keeps its trailing blanks.
        let e = parse_entry("x", "linux /v \n\ntitle never read\n").unwrap();
        assert_eq!(e.linux(), Some("/v "));
        assert_eq!(e.title(), None);
        // The key ends at the first space even after a tab.
        let e = parse_entry("x", "linux /v\ntitle\tA B\n").unwrap();
        assert_eq!(e.first("title\tA"), Some("B"));
    }

    #[test]
    fn test_vercmp_like_rpm() {
        use Ordering::*;
        for (a, b, want) in [
            ("5.14.0-362.8.1.el9_3", "5.14.0-70.13.1.el9_0", Greater),
            ("6.5.6-300.fc39", "6.5.12-300.fc39", Less),
            ("1.0", "1.0", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("2", "10", Less),
            ("1.01", "1.1", Equal),
            ("a", "1", Less),
            ("1.0+git1", "1.0", Greater),
        ] {
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn test_sort_newest_first() {
        let mk = |id: &str| BlsEntry {
            id: id.into(),
            keys: vec![("linux".into(), "/v".into())],
        };
        let mut entries = vec![
            mk("m-0-rescue"),
            mk("m-5.14.0-70.el9"),
            mk("m-5.14.0-362.el9"),
        ];
        sort_entries(&mut entries);
        let ids: Vec<_> = entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["m-5.14.0-362.el9", "m-5.14.0-70.el9", "m-0-rescue"]);
    }
}
