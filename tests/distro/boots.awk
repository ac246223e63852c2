# Splits a timestamped serial log (tests/distro/lib.sh's dt_qemu) into
# boots, one output line per kernel start, tab-separated:
#   seg via kernel dtboot unclean fsck go_t go_cmd up_t cmdline
#   plan_kernel plan_cmdline grubenv_first grubenv_last loaded grub_title end
#   target final kcmdline start_t down_t
# via: firmware (GRUB ran since the previous kernel), crash (the previous
# kernel triggered a crash and no firmware ran) or kexec. unclean: the
# kernel or fsck replayed a journal or cleaned orphans before the system
# was up. end: how the boot ended (halted, powered-off, or -). target:
# the last shutdown target systemd reached (reboot, kexec, poweroff, halt).
# final: systemd-shutdown's last word ("Rebooting.", "Rebooting with
# kexec.", ...), absent when something kexec'd before it spoke. kcmdline:
# the command line as the kernel printed it (for boots with no DT lines,
# such as kdump's capture kernel). start_t: when the kernel printed its
# version; down_t: when it jumped to the next ("kexec_core: Starting new
# kernel") or reset the machine ("reboot: Restarting system").
# Empty fields are "-".
BEGIN { OFS = "\t" }
function reset() {
    kernel = dtboot = go_t = go_cmd = up_t = cmdline = plan_kernel = plan_cmdline = "-"
    grubenv_first = grubenv_last = loaded = ending = target = final = kcmdline = "-"
    unclean = 0; fsck = "-"; up = 0; start_t = down_t = "-"
}
function flush() {
    if (seg) print seg, via, kernel, dtboot, unclean, fsck, go_t, go_cmd, up_t, cmdline,
        plan_kernel, plan_cmdline, grubenv_first, grubenv_last, loaded, grub_title, ending,
        target, final, kcmdline, start_t, down_t
}
function after(s, prefix) { return substr(s, index(s, prefix) + length(prefix)) }
function json(s, key,    v) {
    if (!match(s, "\"" key "\": *\"[^\"]*\"")) return "-"
    v = substr(s, RSTART, RLENGTH)
    sub(/^"[^"]*": *"/, "", v)
    sub(/"$/, "", v)
    return v == "" ? "-" : v
}
{
    t = $1
    line = substr($0, length($1) + 2)
    gsub(/\033\[[0-9;?]*[A-Za-z]/, "", line)
    if (line ~ /Booting `/) {
        fw = 1
        pending_title = after(line, "Booting `")
        sub(/'$/, "", pending_title)
    }
    if (line ~ /Linux version [^ ]+ \(/) {
        flush()
        seg++
        via = (seg == 1 || fw) ? "firmware" : (crashed ? "crash" : "kexec")
        grub_title = fw ? pending_title : "-"
        fw = 0; crashed = 0; pending_title = "-"
        reset()
        start_t = t
        kernel = after(line, "Linux version ")
        sub(/ .*/, "", kernel)
        next
    }
    if (!seg) next
    if (line ~ /sysrq: Trigger a crash/) crashed = 1
    if (line ~ /kexec_core: Starting new kernel|reboot: Restarting system/) down_t = t
    if (kcmdline == "-" && line ~ /\] Command line: /) kcmdline = after(line, "] Command line: ")
    if (line ~ /reboot: System halted/) ending = "halted"
    if (line ~ /reboot: Power down/) ending = "powered-off"
    # systemd 257 names the unit, 252 only its description.
    if (line ~ /Reached target (reboot\.target|System Reboot)/) target = "reboot"
    if (line ~ /Reached target (kexec\.target|Reboot via kexec)|Starting systemd-kexec\.service/) target = "kexec"
    if (line ~ /Reached target (poweroff\.target|System Power Off)/) target = "poweroff"
    if (line ~ /Reached target (halt\.target|System Halt)/) target = "halt"
    if (line ~ /systemd-shutdown\[1\]: (Rebooting|Powering off|Halting)/) {
        final = after(line, "systemd-shutdown[1]: ")
    }
    if (line ~ /DT: boot [0-9]+ /) {
        dtboot = after(line, "DT: boot "); sub(/ .*/, "", dtboot)
        up_t = t; up = 1
    }
    if (line ~ /DT: cmdline /) cmdline = after(line, "DT: cmdline ")
    if (line ~ /DT: go /) {
        go_t = t
        go_cmd = after(line, "DT: go ")
        sub(/ \(uptime [0-9.]+\)$/, "", go_cmd)
        sub(/^sh -c /, "", go_cmd)
    }
    if (line ~ /DT: plan /) {
        plan_kernel = json(line, "kernel")
        plan_cmdline = json(line, "cmdline")
    }
    if (line ~ /DT: grubenv /) {
        grubenv_last = after(line, "DT: grubenv ")
        if (grubenv_first == "-") grubenv_first = grubenv_last
    }
    if (line ~ /DT: plan-kernel /) plan_kernel = after(line, "DT: plan-kernel ")
    if (line ~ /DT: kexec_loaded /) loaded = after(line, "DT: kexec_loaded ")
    if (!up && line !~ /DT: /) {
        l = tolower(line)
        if (l ~ /recovery complete|recovering journal|orphan/) unclean++
        if (l ~ /: clean, [0-9]+\/[0-9]+ files/) fsck = "clean"
    }
}
END { flush() }
