import os from 'node:os';
import { taskIds } from './proc.js';

// Puts every thread of a worker back at nice 0 once it is ready (it warmed up at ready.nice).
// Linux keeps a nice value per thread, so each task is set, not just the main one. Lowering a nice
// value needs root or RLIMIT_NICE: without them this returns the error and the worker stays niced.
export function restoreNormalPriority(pid: number): Error | null {
  const tasks = taskIds(pid);
  if (tasks === null) return null; // exited meanwhile: nothing to restore
  for (const task of tasks) {
    try {
      os.setPriority(task, 0);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') continue;
      return error as Error;
    }
  }
  return null;
}
