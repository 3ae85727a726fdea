/**
 * Metrics: the registry that renders Prometheus text ({@link MetricsRegistry}), vigil's metric
 * families ({@link registerVigilMetrics}), kernel BPF program statistics
 * ({@link openBpfProgramStats}) and a small text-format reader for `vigil top`.
 *
 * @module
 */
export * from "./registry.ts";
export { registerVigilMetrics } from "./vigil_metrics.ts";
export type { BuildInfo, VigilMetricsOptions, VigilMetricsSnapshot } from "./vigil_metrics.ts";
export {
  BPF_STATS_RUN_TIME,
  listAllPrograms,
  openBpfProgramStats,
  PROG_INFO,
  readProgramInfo,
} from "./bpf_stats.ts";
export type {
  BpfProgramStats,
  BpfProgramStatsOptions,
  ProgramInfo,
  ProgramRef,
  StatsSwitch,
} from "./bpf_stats.ts";
export { parseMetricsText } from "./parse_text.ts";
export type { ParsedSample } from "./parse_text.ts";
