import os from 'node:os';
import type { SupervisorConfig } from '../config/index.js';
import { fdBudget, fdLimitWarning, openFileLimit } from '../config/fd-budget.js';
import { agingPlan, agingSteps, cgroupWeightNote, choosePriorityMechanism, LosslessUnavailable, probeSteering, readMigrateReq, readSchedulingFacts, resolveLossless } from '../daemon/index.js';
import { nativeStatus } from '../native/index.js';
import { ExitCode } from '../control/exit-codes.js';

interface Finding {
  check: string;
  ok: boolean | null; // null: a fact, neither good nor bad by itself
  detail: string;
}

// What this machine gives a reload: the facts first, then the verdict for the config if given.
// Exit 0 when the config (or, without one, the default) gets a lossless mechanism, else 1.
export function runDoctor(config: SupervisorConfig | null, json: boolean): number {
  const findings: Finding[] = [];
  const native = nativeStatus();
  findings.push({ check: 'native addon', ok: !native.error, detail: native.error ?? native.addonPath });
  findings.push({ check: 'exec shim', ok: native.shimBuilt, detail: native.shimBuilt ? native.shimPath : `missing at ${native.shimPath}: run npm install` });
  findings.push({ check: 'kernel', ok: null, detail: `${os.type()} ${os.release()}` });
  const migrate = readMigrateReq();
  findings.push({
    check: 'net.ipv4.tcp_migrate_req',
    ok: migrate === true ? true : null,
    detail: migrate === null ? 'not available (Linux < 5.14)' : migrate ? '1: a closing listener\'s queue moves to another listener' : '0 (the supervisor never changes it; steering does not need it)',
  });
  const steering = native.error ? { ok: false, error: native.error } : probeSteering();
  findings.push({ check: 'reuseport steering (SO_ATTACH_REUSEPORT_CBPF)', ok: steering.ok, detail: steering.ok ? 'attaches' : `fails: ${steering.error}` });

  findings.push(...warmingFindings(config, steering.ok));
  findings.push(fdFinding(config));

  const socket = config?.socket ?? 'reuseport';
  const lossless = config?.lossless ?? 'auto';
  let verdict: { ok: boolean; mechanisms: string[]; guarantee: string };
  try {
    const report = resolveLossless(lossless, socket, migrate, () => steering);
    verdict = { ok: report.lossless, mechanisms: report.mechanisms, guarantee: report.guarantee };
  } catch (error) {
    if (!(error instanceof LosslessUnavailable)) throw error;
    verdict = { ok: false, mechanisms: [], guarantee: `refused at start: ${error.message}` };
  }
  const subject = config ? `config ${config.file} (socket: ${socket}, lossless: ${lossless})` : `the defaults (socket: ${socket}, lossless: ${lossless})`;
  if (json) {
    process.stdout.write(`${JSON.stringify({ findings, subject, socket, lossless, ...verdict })}\n`);
  } else {
    for (const finding of findings) process.stdout.write(`${finding.ok === null ? '--  ' : finding.ok ? 'ok  ' : 'NO  '} ${finding.check}: ${finding.detail}\n`);
    process.stdout.write(`\n${subject}\n  mechanisms: ${verdict.mechanisms.join(' + ') || 'none'}\n  ${verdict.guarantee}\n`);
  }
  return verdict.ok ? ExitCode.ok : ExitCode.failed;
}

// The open file limit here, and for a config whether a reload fits in it.
function fdFinding(config: SupervisorConfig | null): Finding {
  const limit = openFileLimit();
  const check = 'open file limit (RLIMIT_NOFILE)';
  if (limit === null) return { check, ok: null, detail: 'unknown (/proc/self/limits cannot be read)' };
  if (config === null) return { check, ok: null, detail: `${limit.soft}; pass -c to compare it with what a config needs across a reload` };
  const warning = fdLimitWarning(config, limit);
  const needed = fdBudget(config).total;
  return { check, ok: warning === null, detail: warning ?? `${limit.soft}, enough for this config (about ${needed} across a reload)` };
}

// How a new worker's warm-up is kept off the serving workers' CPU here: the facts, the mechanism
// chosen from them, and for a config its aging schedule and whether its warm-up can be routed.
function warmingFindings(config: SupervisorConfig | null, steers: boolean): Finding[] {
  const facts = readSchedulingFacts();
  const choice = choosePriorityMechanism(facts);
  const findings: Finding[] = [
    { check: 'kernel.sched_autogroup_enabled', ok: null, detail: facts.autogroup === null ? 'not available (no autogroup in this kernel)' : facts.autogroup ? '1: every session (each worker) is its own scheduling group' : '0' },
    { check: 'cpu cgroup of the supervisor', ok: null, detail: facts.cpuCgroup ? `${facts.cpuCgroup.path} (cgroup v${facts.cpuCgroup.version}): autogroup does not apply inside it` : 'the root one: autogroup applies' },
    { check: 'cgroup v2 cpu.weight per generation', ok: null, detail: cgroupWeightNote(facts) },
  ];
  const wanted = config !== null && config.ready.nice > 0;
  findings.push({ check: 'warming priority', ok: choice.mechanism !== 'none' ? true : wanted ? false : null, detail: `${choice.mechanism}: ${choice.reason}` });
  if (config !== null && wanted && choice.mechanism !== 'none') {
    const steps = agingSteps(agingPlan(config.ready));
    const shown = steps.filter((_, index) => index % 5 === 0 || index === steps.length - 1).map(([at, nice]) => `${nice} at ${at} ms`);
    findings.push({ check: 'warming priority schedule', ok: null, detail: `ready.nice ${config.ready.nice} -> 0 while not ready: ${shown.join(', ')}` });
  }
  if (config?.ready.warmup) {
    const routed = config.socket === 'reuseport' && config.lossless !== 'migrate' && config.lossless !== 'off' && steers;
    findings.push({ check: 'ready.warmup', ok: routed, detail: routed ? `${config.ready.warmup.requests} requests to each new worker through its own socket before it serves` : 'not available: warm-up requests need steering to reach the one new worker (see reuseport steering above)' });
  }
  return findings;
}
