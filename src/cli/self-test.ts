// `supervisor upgrade-self-test` (not for people: `supervisor upgrade` runs it): the program about
// to be exec'd proves, in a child process while the old one keeps serving, that it starts, loads
// every module and the addon, and can read the state it would be handed (the config parsed with
// its own code). It prints what it is as one JSON line and exits 0; anything else refuses the upgrade.
import { supervisorVersion } from '../package.js';

export async function upgradeSelfTest(): Promise<never> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const { parseHandover } = await import('../daemon/index.js');
    const state = parseHandover(Buffer.concat(chunks).toString('utf8'));
    const { parseConfig } = await import('../config/index.js');
    parseConfig(state.configText, state.configFile);
    // What the daemon loads at start and later on demand: a module missing from a broken install
    // must fail here, not in the daemon after the exec.
    await Promise.all([
      import('../daemon/index.js'),
      import('../daemon/ops/metrics.js'),
      import('../daemon/ops/http-endpoint.js'),
      import('../daemon/ops/watch.js'),
      import('../log.js'),
      import('./actions.js'),
    ]);
    const { nativeStatus, isChildSubreaper } = await import('../native/index.js');
    const native = nativeStatus();
    if (native.error !== undefined) throw new Error(native.error);
    if (!native.shimBuilt) throw new Error(`the exec shim ${native.shimPath} is missing: rebuild with npm run install`);
    isChildSubreaper(); // one call into the addon
    process.stdout.write(`${JSON.stringify({ version: supervisorVersion(), node: process.version })}\n`);
    process.exit(0);
  } catch (error) {
    process.stderr.write(`supervisor upgrade-self-test: ${(error as Error).message.split('\n')[0]}\n`);
    process.exit(1);
  }
}
