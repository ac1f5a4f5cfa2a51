// The life of one benchmark runner process (run-strategy.js, run-throughput.js): run `main`, write
// its result as JSON, and end whatever `stop` knows about on success, on error, and on SIGINT or
// SIGTERM, so that no server or load process outlives the runner.
import { writeFileSync } from 'node:fs';

export async function runToFile<T>(
  resultPath: string,
  log: (text: string) => void,
  stop: () => Promise<unknown>,
  main: () => Promise<T>,
): Promise<never> {
  let stopping: Promise<unknown> | undefined;
  const stopOnce = () => (stopping ??= stop().catch(() => undefined));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void stopOnce().finally(() => process.exit(130));
    });
  }
  try {
    const result = await main();
    await stopOnce();
    writeFileSync(resultPath, JSON.stringify(result));
    process.exit(0);
  } catch (error) {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    await stopOnce();
    process.exit(1);
  }
}
