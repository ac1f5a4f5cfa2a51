// The options of the CLI's commands, as plain data: yargs is built from them for --help and every
// unusual command line, and the quick parser (quick-args.ts) reads the common ones with the same
// names, aliases and defaults, without loading yargs.

export interface OptionSpec {
  type: 'string' | 'boolean';
  describe: string;
  alias?: string;
  default?: string | boolean;
  normalize?: boolean;
  demandOption?: string;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
export const DEFAULT_CONFIG = '/etc/reuseport-supervisor/supervisor.yaml';

export const configOption = {
  alias: 'c',
  type: 'string',
  describe: 'config file (YAML or JSON); commands find the daemon through its control: path',
  normalize: true,
} as const satisfies OptionSpec;

// -c, --socket and --json: how a command that talks to the daemon finds it and prints.
export const targetOptions = {
  config: configOption,
  socket: { type: 'string', describe: 'control socket path (overrides the one in -c)', normalize: true },
  json: { type: 'boolean', default: false, describe: 'print JSON instead of text' },
} as const satisfies OptionTable;

export const runOptions = {
  config: { ...configOption, demandOption: 'pass the config file: supervisor run -c supervisor.yaml' },
  subreaper: { type: 'boolean', default: false, describe: 'become a child subreaper (PR_SET_CHILD_SUBREAPER) and reap orphaned descendants, as PID 1 does' },
  'log-format': { type: 'string', describe: 'json: one JSON object per line; pretty: one readable line per event (default: pretty on a terminal, json otherwise)' },
} as const satisfies OptionTable;

export const checkOptions = {
  config: { ...configOption, demandOption: 'pass the config file: supervisor check -c supervisor.yaml' },
  json: { type: 'boolean', default: false, describe: 'print the resolved config as JSON' },
} as const satisfies OptionTable;

export const reloadOptions = {
  ...targetOptions,
  wait: { type: 'boolean', default: true, describe: 'wait for the result; --no-wait exits 0 once the daemon has accepted the reload' },
  timeout: { type: 'string', describe: 'stop waiting after this long (such as 2m) and exit 5, or 1 when the rollback was already announced; the reload goes on' },
  canary: { type: 'string', describe: 'hold the new generation at this share of new connections (such as 10%) until supervisor promote or supervisor rollback (or canary.hold runs out); exits 0 once the canary holds' },
} as const satisfies OptionTable;

export const statusOptions = {
  ...targetOptions,
  watch: { alias: 'w', type: 'boolean', default: false, describe: 'show it again every --interval until Ctrl-C (redrawn in place on a terminal)' },
  interval: { type: 'string', default: '2s', describe: 'how often --watch asks, such as 1s or 500ms' },
} as const satisfies OptionTable;

export const stopOptions = targetOptions;

export const upgradeOptions = {
  ...targetOptions,
  node: { type: 'string', describe: 'the node binary the new program runs on (default: the one the daemon runs on now, as it is on disk)', normalize: true },
  timeout: { type: 'string', default: '60s', describe: 'how long to wait for the upgraded daemon to answer; exit 1 after' },
} as const satisfies OptionTable;

/**
 * The commands the quick parser takes, with their options. `run` is one of them for the daemon's
 * sake: yargs would stay in its memory for as long as it runs.
 */
export const QUICK_COMMANDS = { run: runOptions, check: checkOptions, reload: reloadOptions, status: statusOptions, stop: stopOptions } as const;
export type QuickCommand = keyof typeof QUICK_COMMANDS;
