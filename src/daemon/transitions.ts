// The lifecycles as pure state x event tables. A missing cell is an impossible event for that
// state: callers log it and keep the state, so a late or duplicated signal never corrupts one.

export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';
export type WorkerEvent = 'ready' | 'drain' | 'exit';

export const workerTransitions: Record<WorkerState, Partial<Record<WorkerEvent, WorkerState>>> = {
  starting: { ready: 'ready', drain: 'draining', exit: 'exited' },
  ready: { drain: 'draining', exit: 'exited' },
  draining: { exit: 'exited' },
  exited: {},
};

export type GenerationState = 'starting' | 'serving' | 'draining' | 'baking' | 'retired' | 'failed';
export type GenerationEvent = 'promote' | 'fail' | 'drain' | 'bake' | 'reinstate' | 'gone';

export const generationTransitions: Record<
  GenerationState,
  Partial<Record<GenerationEvent, GenerationState>>
> = {
  starting: { promote: 'serving', fail: 'failed', drain: 'draining' },
  serving: { drain: 'draining' },
  // reinstate: a reload that fails while the generation hands over takes it back before it drains.
  // bake: handed over, it stays alive and warm (steered out, no restarts) for the bake window.
  draining: { gone: 'retired', reinstate: 'serving', bake: 'baking' },
  // reinstate: a rollback; drain: the window ended (or a new reload or a stop ends it).
  baking: { reinstate: 'serving', drain: 'draining' },
  failed: {},
  retired: {},
};

export type SupervisorState = 'starting' | 'running' | 'reloading' | 'stopping' | 'stopped';
export type SupervisorEvent = 'started' | 'reload' | 'reloaded' | 'stop' | 'stopped';

export const supervisorTransitions: Record<
  SupervisorState,
  Partial<Record<SupervisorEvent, SupervisorState>>
> = {
  starting: { started: 'running', stop: 'stopping' },
  running: { reload: 'reloading', stop: 'stopping' },
  reloading: { reloaded: 'running', stop: 'stopping' },
  stopping: { stopped: 'stopped' },
  stopped: {},
};

export type Transition<S> = { ok: true; to: S } | { ok: false; from: S };

export function transition<S extends string, E extends string>(
  table: Record<S, Partial<Record<E, S>>>,
  from: S,
  event: E,
): Transition<S> {
  const to = table[from][event];
  return to === undefined ? { ok: false, from } : { ok: true, to };
}
