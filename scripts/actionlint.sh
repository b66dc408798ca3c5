#!/usr/bin/env bash
# actionlint, the GitHub Actions workflow checker, so .github/workflows/ is checked here as
# GitHub would read it (test/release/workflow.test.ts).
exec bash "$(dirname "$0")/go-tool.sh" actionlint github.com/rhysd/actionlint/cmd/actionlint v1.7.12
