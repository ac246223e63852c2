//! Boot Loader Specification type 1 entries (`/boot/loader/entries/*.conf`),
//! as Fedora and RHEL 8+ write them and GRUB's `blscfg` reads them.
//!
//! Each file is `key value` lines: `title`, `version`, `linux`, `initrd`
//! (repeatable), `options` (repeatable; joined with spaces, and GRUB expands
//! `$kernelopts` and friends from grubenv). The entry's id is its file name
//! without `.conf`, which is what `saved_entry` names. blscfg lists entries
//! newest first: by `version` with rpm's version comparison, then by id.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlsEntry {
    /// File name without `.conf`.
    pub id: String,
    pub title: Option<String>,
    pub version: Option<String>,
    pub linux: String,
    pub initrds: Vec<String>,
    pub options: Vec<String>,
}

/// Parses one entry file. `None` when it has no `linux` key (blscfg skips
/// such files too).
pub fn parse_entry(id: &str, text: &str) -> Option<BlsEntry> {
    let mut entry = BlsEntry {
        id: id.to_string(),
        title: None,
        version: None,
        linux: String::new(),
        initrds: Vec::new(),
        options: Vec::new(),
    };
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '\t']);
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once([' ', '\t']) else {
            continue;
        };
        let value = value.trim_start_matches([' ', '\t']).trim_end();
        match key {
            "title" => entry.title = Some(value.to_string()),
            "version" => entry.version = Some(value.to_string()),
            "linux" => entry.linux = value.to_string(),
            // Kept whole: blscfg hands the value to GRUB's parser, which
            // splits it and expands variables such as `$tuned_initrd`.
            "initrd" => entry.initrds.push(value.to_string()),
            "options" => entry.options.push(value.to_string()),
            _ => {}
        }
    }
    (!entry.linux.is_empty()).then_some(entry)
}

/// Sorts entries the way blscfg lists them: newest version first; entries
/// without a version last; ties broken by id, newest first.
pub fn sort_entries(entries: &mut [BlsEntry]) {
    entries.sort_by(|a, b| {
        let by_version = match (&a.version, &b.version) {
            (Some(x), Some(y)) => vercmp(y, x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_version.then_with(|| vercmp(&b.id, &a.id))
    });
}

/// rpm's version comparison (rpmvercmp), as blscfg uses it: alternating
/// numeric and alphabetic segments, numbers compared as numbers and newer
/// than letters, `~` older than anything.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        while i < a.len() && !a[i].is_ascii_alphanumeric() && a[i] != b'~' {
            i += 1;
        }
        while j < b.len() && !b[j].is_ascii_alphanumeric() && b[j] != b'~' {
            j += 1;
        }
        let (ta, tb) = (a.get(i) == Some(&b'~'), b.get(j) == Some(&b'~'));
        if ta || tb {
            if !ta {
                return Ordering::Greater;
            }
            if !tb {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if i >= a.len() || j >= b.len() {
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
        assert_eq!(e.linux, "/vmlinuz-5.14.0-362.8.1.el9_3.x86_64");
        assert_eq!(
            e.initrds,
            ["/initramfs-5.14.0-362.8.1.el9_3.x86_64.img $tuned_initrd"]
        );
        assert_eq!(e.options.len(), 2);
        assert!(parse_entry("x", "title no kernel\n").is_none());
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
        ] {
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn test_sort_newest_first() {
        let mk = |id: &str, version: Option<&str>| BlsEntry {
            id: id.into(),
            title: None,
            version: version.map(Into::into),
            linux: "/v".into(),
            initrds: vec![],
            options: vec![],
        };
        let mut entries = vec![
            mk("m-0-rescue", None),
            mk("m-5.14.0-70.el9", Some("5.14.0-70.el9")),
            mk("m-5.14.0-362.el9", Some("5.14.0-362.el9")),
        ];
        sort_entries(&mut entries);
        let ids: Vec<_> = entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["m-5.14.0-362.el9", "m-5.14.0-70.el9", "m-0-rescue"]);
    }
}
