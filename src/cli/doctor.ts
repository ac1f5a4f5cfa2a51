import os from 'node:os';
import type { SupervisorConfig } from '../config/index.js';
import { LosslessUnavailable, probeSteering, readMigrateReq, resolveLossless } from '../daemon/index.js';
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
