# The one install recipe, used by debian/rules and rpm/kexecctl.spec alike.
#
#   make                 build the release binary, man pages and completions
#   make install DESTDIR=... PREFIX=/usr [DEFAULTS=debian|redhat|both]
#
# Files under etc/ are laid out as installed: etc/init.d, etc/default,
# etc/sysconfig and etc/kernel/{postinst,postrm}.d go to $(SYSCONFDIR); the
# parts that live under /usr go by these variables:
#   etc/systemd/system/*        -> $(UNITDIR)
#   etc/systemd/system-shutdown -> $(SHUTDOWNDIR)
#   etc/kernel/install.d        -> $(KERNELINSTALLDIR)
# DEFAULTS selects the default configuration installed in /etc:
#   debian: nothing in /etc (postinst generates /etc/default/kexec from
#           $(DATADIR)/kexecctl/kexec.default, as kexec-tools does);
#   redhat: /etc/sysconfig/kdump for the build architecture.

PREFIX ?= /usr
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
LIBDIR ?= $(PREFIX)/lib
UNITDIR ?= $(LIBDIR)/systemd/system
SHUTDOWNDIR ?= $(LIBDIR)/systemd/system-shutdown
KERNELINSTALLDIR ?= $(LIBDIR)/kernel/install.d
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/vendor-completions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
DEFAULTS ?= both
ARCH ?= $(shell uname -m)
CARGO ?= cargo
CARGO_TARGET_DIR ?= target

PERSONALITIES = kexec-load coldreboot kdump-setup fastreboot
BIN = $(CARGO_TARGET_DIR)/release/kexecctl
DOCS = $(CARGO_TARGET_DIR)/docs

.PHONY: all build docs install clean

all: build docs

build:
	$(CARGO) build --release --locked

docs: build
	rm -rf $(DOCS)
	$(BIN) generate-docs --out $(DOCS)

install: all
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/kexecctl
	for p in $(PERSONALITIES); do ln -sf kexecctl $(DESTDIR)$(SBINDIR)/$$p; done
	install -D -m 0755 -t $(DESTDIR)$(SYSCONFDIR)/init.d etc/init.d/kexec-load etc/init.d/kexec etc/init.d/kdump \
		etc/init.d/kexecctl-confirm
	install -D -m 0755 etc/kernel/postinst.d/kexecctl $(DESTDIR)$(SYSCONFDIR)/kernel/postinst.d/kexecctl
	install -D -m 0755 etc/kernel/postrm.d/kexecctl $(DESTDIR)$(SYSCONFDIR)/kernel/postrm.d/kexecctl
	install -D -m 0644 -t $(DESTDIR)$(UNITDIR) etc/systemd/system/kexec-load.service etc/systemd/system/kdump-setup.service \
		etc/systemd/system/kexecctl-confirm.service
	install -D -m 0755 etc/systemd/system-shutdown/kexecctl $(DESTDIR)$(SHUTDOWNDIR)/kexecctl
	install -D -m 0755 etc/kernel/install.d/60-kexecctl.install $(DESTDIR)$(KERNELINSTALLDIR)/60-kexecctl.install
	install -D -m 0644 etc/default/kexec $(DESTDIR)$(DATADIR)/kexecctl/kexec.default
	install -d $(DESTDIR)$(SYSCONFDIR)/default/kexec.d
	if [ "$(DEFAULTS)" = redhat ] || [ "$(DEFAULTS)" = both ]; then \
		f=etc/sysconfig/kdump.$(ARCH); [ -f $$f ] || f=etc/sysconfig/kdump.x86_64; \
		install -D -m 0644 $$f $(DESTDIR)$(SYSCONFDIR)/sysconfig/kdump; fi
	if [ "$(DEFAULTS)" = both ]; then \
		install -D -m 0644 etc/default/kexec $(DESTDIR)$(SYSCONFDIR)/default/kexec; fi
	install -D -m 0644 -t $(DESTDIR)$(MANDIR)/man8 $(DOCS)/man8/*.8
	install -D -m 0644 -t $(DESTDIR)$(BASHCOMPDIR) $(DOCS)/bash-completion/*
	for f in $(DESTDIR)$(BASHCOMPDIR)/*.bash; do mv $$f $${f%.bash}; done
	install -D -m 0644 -t $(DESTDIR)$(ZSHCOMPDIR) $(DOCS)/zsh/*
	install -D -m 0644 -t $(DESTDIR)$(FISHCOMPDIR) $(DOCS)/fish/*

clean:
	$(CARGO) clean
