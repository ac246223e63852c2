//! Every command's `--json` output — successes, skips, dry runs and errors —
//! is exactly one object that follows docs/json-schema.json, and its
//! `exit_code` is the process's. The validator below implements the part of
//! JSON Schema the file uses, and rejects any keyword it does not know, so
//! the schema cannot silently say more than is checked.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::util::{Host, Run, run};

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-schema.json");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn resolve<'s>(root: &'s Value, reference: &str) -> &'s Value {
    let name = reference
        .strip_prefix("#/$defs/")
        .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
    root["$defs"]
        .get(name)
        .unwrap_or_else(|| panic!("no $defs/{name}"))
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        other => panic!("unknown type {other}"),
    }
}

/// Checks `value` against `schema`; the error names the JSON path.
fn validate(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(object) = schema.as_object() else {
        panic!("schema at {at} is not an object");
    };
    for (keyword, rule) in object {
        match keyword.as_str() {
            "description" | "$schema" | "$id" | "title" | "$defs" => {}
            "$ref" => validate(root, resolve(root, rule.as_str().unwrap()), value, at)?,
            "type" => {
                let ok = match rule {
                    Value::String(t) => type_matches(t, value),
                    Value::Array(ts) => ts.iter().any(|t| type_matches(t.as_str().unwrap(), value)),
                    _ => panic!("bad type at {at}"),
                };
                if !ok {
                    return Err(format!("{at}: {value} is not of type {rule}"));
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(value) {
                    return Err(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "const" => {
                if rule != value {
                    return Err(format!("{at}: {value} is not {rule}"));
                }
            }
            "properties" => {
                if let Some(map) = value.as_object() {
                    for (name, sub) in rule.as_object().unwrap() {
                        if let Some(v) = map.get(name) {
                            validate(root, sub, v, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "required" => {
                if let Some(map) = value.as_object() {
                    for name in rule.as_array().unwrap() {
                        let name = name.as_str().unwrap();
                        if !map.contains_key(name) {
                            return Err(format!("{at}: `{name}` is missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(map) = value.as_object() {
                    let known = object.get("properties").and_then(Value::as_object);
                    for (name, v) in map {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => {
                                return Err(format!("{at}: `{name}` is not in the schema"));
                            }
                            Value::Bool(true) => {}
                            sub => validate(root, sub, v, &format!("{at}.{name}"))?,
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, v) in items.iter().enumerate() {
                        validate(root, rule, v, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "oneOf" | "anyOf" => {
                let results: Vec<Result<(), String>> = rule
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|sub| validate(root, sub, value, at))
                    .collect();
                let matched = results.iter().filter(|r| r.is_ok()).count();
                let ok = if keyword == "oneOf" {
                    matched == 1
                } else {
                    matched >= 1
                };
                if !ok {
                    let why: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                    return Err(format!(
                        "{at}: {matched} of the {keyword} alternatives match: {}",
                        why.join(" | ")
                    ));
                }
            }
            other => panic!("the test's validator does not know the keyword `{other}` ({at})"),
        }
    }
    Ok(())
}

/// Runs a command with --json and checks its output against the schema.
/// `personality` prefixes the one error line on stderr.
fn check(out: Run, personality: &str, what: &str) -> Value {
    let value: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not one JSON object ({e}): {:?}", out.stdout));
    let root = schema();
    if let Err(e) = validate(&root, &root, &value, "$") {
        panic!("{what}: {e}\n{value:#}");
    }
    assert_eq!(value["exit_code"], out.code, "{what}: {value}");
    if out.code != 0 && out.code != 3 {
        assert!(
            value["error"].is_object(),
            "{what}: failed without `error`: {value}"
        );
        let prefix = format!("{personality}: ");
        assert_eq!(
            out.stderr
                .lines()
                .filter(|l| l.starts_with(&prefix) && !l.contains("warning:"))
                .count(),
            1,
            "{what}: the error is printed once: {}",
            out.stderr
        );
    }
    value
}

fn json(host: &Host, personality: &str, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.push("--json");
    check(
        host.run(personality, &full),
        personality,
        &format!("{personality} {args:?}"),
    )
}

#[test]
fn test_the_validator_rejects_what_the_schema_forbids() {
    let root = schema();
    let bad = serde_json::json!({"command": "kexecctl load", "dry_run": true, "exit_code": 0, "surprise": 1});
    assert!(validate(&root, &root, &bad, "$").is_err());
    let bad = serde_json::json!({"command": "kexecctl load", "dry_run": true, "exit_code": 0, "action": "loaded"});
    assert!(validate(&root, &root, &bad, "$").is_err());
    let bad = serde_json::json!({"command": "kexecctl status", "dry_run": false, "exit_code": 3, "kexec": {"loaded": "no", "record": null}});
    assert!(validate(&root, &root, &bad, "$").is_err());
}

#[test]
fn test_every_command_follows_the_schema() {
    let host = Host::debian12();
    // The reboot path.
    for args in [
        &["load", "--dry-run"][..],
        &["load"],
        &["status"],
        &["unload", "--dry-run"],
        &["unload"],
        &["exec", "--dry-run"],
        &["exec"],
        &["config"],
        &["config", "--set", "kexec"],
    ] {
        json(&host, "kexecctl", args);
    }
    let loaded = json(&host, "kexecctl", &["load"]);
    assert_eq!(loaded["done"], true);
    assert_eq!(loaded["method"]["name"], "kexec_file_load");
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(
        status["kexec"]["record"]["kernel"],
        loaded["load"]["kernel"]
    );
    for action in ["start", "status", "restart", "force-reload"] {
        json(&host, "kexec-load", &[action]);
    }
    host.run("kexecctl", &["unload"]);
    let stop = json(&host, "kexec-load", &["stop", "--dry-run"]);
    assert_eq!(stop["action"], "load");
    json(&host, "kexec-load", &["stop"]);
    json(&host, "coldreboot", &["--dry-run", "-f"]);
    json(&host, "fastreboot", &["--dry-run", "--yes"]);
    // Errors: configuration, a missing kernel, a missing file, usage.
    host.kexec_config("LOAD_KEXEC=true\nAPPEND=\"$(cat /x)\"\n");
    let e = json(&host, "kexecctl", &["load", "--dry-run"]);
    assert_eq!(
        (e["error"]["kind"].as_str(), e["error"]["line"].as_u64()),
        (Some("not-configured"), Some(2))
    );
    host.kexec_config("LOAD_KEXEC=true\nKERNEL_IMAGE=/boot/none\n");
    let e = json(&host, "kexecctl", &["load"]);
    assert_eq!(e["error"]["file"], "/boot/none");
    assert_eq!(e["action"], "load", "the plan is shown with its error");
    json(
        &host,
        "kexecctl",
        &["config", "--file", "/nonexistent/kexec"],
    );
    check(
        run(crate::util::kexecctl().args(["--root", "/nonexistent", "status", "--json"])),
        "kexecctl",
        "--root /nonexistent",
    );
    let skip = {
        host.kexec_config("LOAD_KEXEC=false\n");
        json(&host, "kexecctl", &["load", "--dry-run"])
    };
    assert_eq!(skip["action"], "skip");
}

#[test]
fn test_kdump_commands_follow_the_schema() {
    let host = Host::fixture("rhel-9");
    for action in [
        "start", "status", "showmem", "rebuild", "restart", "stop", "reload",
    ] {
        json(&host, "kdump-setup", &["--dry-run", action]);
        json(&host, "kdump-setup", &[action]);
    }
    host.write("/sys/kernel/kexec_crash_size", "0\n");
    let e = json(&host, "kdump-setup", &["start"]);
    assert_eq!(e["error"]["kind"], "not-configured");
}

#[test]
fn test_guard_commands_follow_the_schema() {
    use crate::watchdog::{boot, guarded_host};
    let host = guarded_host("KEXECCTL_WATCHDOG_TIMEOUT=60\n", "0");
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(status["guard"]["ready"], true);
    assert_eq!(status["last_boot"]["via"], "firmware");
    json(&host, "kexec-load", &["stop", "--dry-run"]);
    let stop = json(&host, "kexec-load", &["stop"]);
    assert_eq!(stop["steps"][2]["step"], "write-attempt");
    let exec = json(&host, "kexecctl", &["exec", "--dry-run"]);
    assert_eq!(exec["steps"][1]["step"], "arm-watchdog");
    json(&host, "kexecctl", &["arm", "--dry-run"]);
    assert_eq!(json(&host, "kexecctl", &["arm"])["action"], "arm");
    // The kexec'd boot confirms.
    let cmdline = stop["load"]["cmdline"].as_str().unwrap().to_string();
    boot(&host, "boot-2", &cmdline);
    host.write("/sys/kernel/kexec_loaded", "0\n");
    json(&host, "kexecctl", &["status"]);
    let confirm = json(&host, "kexecctl", &["confirm"]);
    assert_eq!(confirm["action"], "confirm");
    assert_eq!(
        json(&host, "kexecctl", &["status"])["last_boot"]["confirmed"],
        true
    );
    // Another attempt that never confirms: quarantine, then cleared.
    json(&host, "kexec-load", &["stop"]);
    boot(&host, "boot-3", "root=/dev/vda1 ro");
    host.write("/sys/kernel/kexec_loaded", "0\n");
    let status = json(&host, "kexecctl", &["status"]);
    assert!(status["last_boot"]["failed_attempt"].is_object());
    assert_eq!(
        json(&host, "kexecctl", &["confirm"])["action"],
        "quarantine"
    );
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(status["quarantine"].as_array().unwrap().len(), 1);
    assert_eq!(json(&host, "kexec-load", &["stop"])["action"], "skip");
    json(&host, "kexecctl", &["clear-quarantine", "--dry-run"]);
    assert_eq!(
        json(&host, "kexecctl", &["clear-quarantine"])["action"],
        "clear-quarantine"
    );
    // Not ready: problems and a fix; systemd's settings read.
    let host = guarded_host("KEXECCTL_WATCHDOG_TIMEOUT=60\n", "-1");
    host.write(
        "/etc/systemd/system.conf.d/wd.conf",
        "[Manager]\nRuntimeWatchdogSec=default\n",
    );
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(status["guard"]["ready"], false);
    assert_eq!(
        status["guard"]["systemd"]["runtime_watchdog_sec"],
        "default"
    );
    assert!(status["guard"]["problems"][0]["fix"].is_string());
    // A configuration that cannot be read: guard is null.
    host.kexec_config("KEXECCTL_WATCHDOG_TIMEOUT=x\n");
    assert_eq!(json(&host, "kexecctl", &["status"])["guard"], Value::Null);
}

#[test]
fn test_status_expectations_follow_the_schema() {
    use crate::watchdog::{boot, guarded_host};
    let host = guarded_host("KEXECCTL_WATCHDOG_TIMEOUT=60\n", "0");
    let met = json(&host, "kexecctl", &["status", "--expect-next"]);
    assert_eq!(met["expect"][0]["met"], true);
    let unmet = json(
        &host,
        "kexecctl",
        &["status", "--expect-next=0.0", "--expect-booted"],
    );
    assert_eq!(unmet["expect"].as_array().unwrap().len(), 2);
    json(&host, "kexec-load", &["stop"]);
    let cmdline = host.calls()[0]["cmdline"].as_str().unwrap().to_string();
    boot(&host, "boot-2", &cmdline);
    let pending = json(&host, "kexecctl", &["status", "--expect-booted"]);
    assert_eq!(pending["exit_code"], 3);
    assert_eq!(pending["error"]["kind"], "unimplemented");
}
