#!/usr/bin/env bash
# promtool, Prometheus's rule checker, so the chart's PrometheusRule is checked with the tool
# Prometheus itself uses (test/chart/monitoring.test.ts). Prometheus 3.x publishes its Go
# module as v0.3xx.y (v0.316.0 is Prometheus 3.6-era).
exec bash "$(dirname "$0")/go-tool.sh" promtool github.com/prometheus/prometheus/cmd/promtool v0.316.0
