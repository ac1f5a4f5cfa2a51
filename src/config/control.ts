// Where the control socket lives when the config does not say, and the kernel's limit on its path.
import { dirname, join, resolve } from 'node:path';

/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

const SOCKET_NAME = 'supervisor.sock';

/**
 * $RUNTIME_DIRECTORY/supervisor.sock under systemd (RuntimeDirectory=), else
 * /run/reuseport-supervisor/supervisor.sock for root, else supervisor.sock beside the config file.
 */
export function defaultControlPath(configFile: string, env: NodeJS.ProcessEnv, uid: number): string {
  // systemd joins several RuntimeDirectory= entries with ":"; the first is the unit's own.
  const runtime = env.RUNTIME_DIRECTORY?.split(':').find((dir) => dir !== '');
  if (runtime !== undefined) return join(resolve(runtime), SOCKET_NAME);
  if (uid === 0) return join('/run/reuseport-supervisor', SOCKET_NAME);
  return join(dirname(resolve(configFile)), SOCKET_NAME);
}

/**
 * Where a client looks for the daemon when it is given neither a socket nor a config: the default
 * a supervisor.yaml in the current directory would get.
 */
export function defaultClientSocket(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): string {
  return defaultControlPath(resolve('supervisor.yaml'), env, uid);
}

/** Why `path` cannot be bound as a unix socket, or undefined when it can. */
export function socketPathProblem(path: string, written: boolean): string | undefined {
  const bytes = Buffer.byteLength(path);
  if (bytes <= MAX_SOCKET_PATH_BYTES) return undefined;
  const origin = written ? 'the control socket path' : 'the default control socket path';
  return `${origin} ${path} is ${bytes} bytes, over the ${MAX_SOCKET_PATH_BYTES}-byte limit for unix socket paths: set control: to a shorter path, such as /run/reuseport-supervisor/supervisor.sock or /tmp/myapp.sock`;
}
