import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitCode, PERMANENT_EXIT_CODES } from '../../src/control/exit-codes.js';
import { ControlSocketInUse } from '../../src/control/server.js';
import { startFailureCode } from '../../src/daemon/ops/start-failure.js';
import { ActivationMismatch } from '../../src/daemon/sockets/activation.js';
import { LosslessUnavailable } from '../../src/daemon/sockets/lossless.js';
import { SyscallError } from '../../src/native/errors.js';

const errno = (code: string) => Object.assign(new Error(`listen ${code}`), { code });

test('start-up errors a restart cannot fix exit 101; those that may pass by themselves 111', () => {
  const cases: [string, unknown, number][] = [
    ['socket activation mismatch', new ActivationMismatch('socket activation passed 127.0.0.1:1'), ExitCode.unfit],
    ['lossless mode the kernel lacks', new LosslessUnavailable('lossless: migrate needs ...'), ExitCode.unfit],
    ['privileged port', new SyscallError('bind', 13, { address: '127.0.0.1:80' }), ExitCode.unfit],
    ['read-only control path, on the cause', new Error('cannot open: fix it', { cause: errno('EROFS') }), ExitCode.unfit],
    ['port in use', new SyscallError('bind', 98, { address: '127.0.0.1:8000' }), ExitCode.system],
    ['address not up yet', new SyscallError('bind', 99, { address: '10.0.0.5:8000' }), ExitCode.system],
    ['another supervisor on the control socket', new ControlSocketInUse('/run/x.sock'), ExitCode.system],
    ['out of file descriptors', errno('EMFILE'), ExitCode.system],
    ['a bug', new TypeError('x is undefined'), ExitCode.system],
    ['a Node error code that is no errno', Object.assign(new Error('bad'), { code: 'ERR_INVALID_ARG_TYPE' }), ExitCode.system],
  ];
  for (const [name, error, code] of cases) assert.equal(startFailureCode(error), code, name);
  assert.ok(PERMANENT_EXIT_CODES.includes(ExitCode.unfit) && !PERMANENT_EXIT_CODES.includes(ExitCode.system));
});
