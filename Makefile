# sam build's build hook (template.yaml: `BuildMethod: makefile`, built in source).
# SAM runs `make build-<LogicalId>` once per function with ARTIFACTS_DIR set. The
# first call compiles every function in one cargo invocation: the dependencies once,
# two fat-LTO links at a time; the calls after it find cargo's output fresh and only
# copy. Function `FooBarFunction` is the binary of crate functions/foo-bar
# (infra/local/src/template.rs derives it the same way and tests that each exists).
#
# --disable-optimizations: cargo-lambda would otherwise add panic="abort" to the
# release profile, and a panicking request must unwind to be reported and answered
# (Cargo.toml, [profile.release]); the CPU tuning it would add is in .cargo/config.toml.

FUNCTIONS := $(notdir $(patsubst %/Cargo.toml,%,$(wildcard functions/*/Cargo.toml)))
LAMBDA_DIR := $(or $(CARGO_TARGET_DIR),target)/lambda

binary = $(shell printf '%s' '$(1)' | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr '[:upper:]' '[:lower:]')

build-%Function:
	cargo lambda build --release --arm64 --disable-optimizations --lambda-dir "$(LAMBDA_DIR)" \
	  $(addprefix --package ,$(FUNCTIONS))
	cp "$(LAMBDA_DIR)/$(call binary,$*)/bootstrap" "$(ARTIFACTS_DIR)/bootstrap"
